/* cli_objective.h — `optirsd objective`: one trial of a study's built-in
 * task objective (study_objective.h) run in the foreground, outside the
 * daemon, by the code daemon-run studies run (study_run_trial): the value
 * printed is the one the daemon would tell the trial, bit for bit.
 *
 *   optirsd objective --objective JSON --params JSON|- [--db PATH]
 *
 * JSON: the study's "objective" (task, steps, optimizer, seeds, report,
 * report_every) and one trial's parameters ({"lr": 0.01, …}), checked as
 * at a study's creation.  A learned or hybrid optimizer runs on the
 * weights of --db (default the daemon's; the built-in records are
 * inserted into it when missing, as `optirsd eval` does); a classic one
 * opens no database.
 * Prints the trial's final value as %.17g and returns 0; a trial whose
 * loss turned non-finite prints "failed at step N" to stderr and returns
 * 1 (the daemon tells it failed); a setting the task or optimizer refuses
 * or bad input: a message and 2.
 * --params -: a stream, for a tuner that calls it trial after trial — one
 * params object a line on stdin (at most 64 KiB), one answer a line on
 * stdout, flushed: the value (%.17g), "failed N" or "error MESSAGE"; the
 * data sets and the weights are loaded once.  Returns 0 at the end of
 * stdin. */
#ifndef OPTIRS_CLI_OBJECTIVE_H
#define OPTIRS_CLI_OBJECTIVE_H

int cli_objective(int argc, char **argv);

#endif
