/* http_deadline.h — a total deadline for reading a request's headers.
 *
 * libmicrohttpd's connection timeout restarts on every read, so a client that
 * sends one header line every few seconds holds a connection (and a slot of
 * --max-connections) forever.  This module tracks every open connection from
 * libmicrohttpd's connection notifications: a connection is "waiting for
 * headers" from its start, and again from the end of each request, until the
 * access handler's first call for the next request (all headers in).  A sweep
 * thread shuts down (shutdown(2), both directions) every connection that has
 * waited longer than the deadline; libmicrohttpd then sees the end of the
 * stream and closes it as usual.  An idle keep-alive connection is waiting
 * for headers too, so it is closed after the same deadline.
 *
 * The socket is only shut down while its entry is registered, under the
 * module's lock, and libmicrohttpd unregisters it (CLOSED notification)
 * before it closes the descriptor: a reused descriptor is never touched.
 * Thread rules: every function may be called from any thread; one daemon
 * per process (module state is global). */
#ifndef OPTIRS_HTTP_DEADLINE_H
#define OPTIRS_HTTP_DEADLINE_H

/* Starts the sweep thread with a deadline of `seconds` (> 0).  0 or
 * ERR_INTERNAL (the thread could not be started). */
int  http_deadline_start(double seconds);
/* Stops and joins the sweep thread (nothing when it is not running). */
void http_deadline_stop(void);

/* A connection opened (socket fd): registers it and stores the entry in
 * *socket_context.  Without memory the connection simply goes untracked. */
void http_deadline_opened(void **socket_context, int fd);
/* A connection is closing: unregisters and frees its entry. */
void http_deadline_closed(void **socket_context);
/* The headers of the connection's current request are all in. */
void http_deadline_headers_done(void *socket_context);
/* The connection's request is complete: its next request's clock starts. */
void http_deadline_request_done(void *socket_context);

#endif
