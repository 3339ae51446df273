/* app.h — the daemon's one shared context, handed to every handler.
 * Thread rules: fields are set before the HTTP server starts; `state`
 * changes atomically (starting → ready → draining). */
#ifndef OPTIRS_APP_H
#define OPTIRS_APP_H

#include <stdatomic.h>
#include "config.h"
#include "listen.h"

struct MHD_Daemon;
typedef struct store store;
typedef struct sessions sessions;
typedef struct study_svc study_svc;
typedef struct metasess_svc metasess_svc;

typedef enum { APP_STARTING, APP_READY, APP_DRAINING } app_state;

typedef struct app {
    config             cfg;
    store             *db;
    sessions          *reg;
    study_svc         *studies;        /* hyperparameter studies (service/study.h) */
    metasess_svc         *msess;          /* meta-sessions (service/metasess.h) */
    struct MHD_Daemon *mhd;
    _Atomic int        state;
    listen_sock        listen;         /* the listener (listen.h), set by http_start */
    int                port;           /* the bound TCP port (0 on a unix socket) */
    int                tls;            /* serving https */
} app;

#endif
