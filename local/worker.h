/* The training worker: one process per instance of a local training job,
 * running linear-learner (local/linear_learner.h) the way SageMaker's
 * container does, and the protocol between it and the engine, which
 * spawns it (local/training.c) and coordinates the instances.
 *
 * A worker is the sagerun binary itself, started by the engine as
 *
 *   sagerun local worker --root JOBDIR/algo-N --work JOBDIR/work/algo-N
 *
 * ROOT is the instance's /opt/ml: input/config/{hyperparameters,
 * resourceconfig,inputdataconfig}.json, input/data/CHANNEL/ (empty until
 * the worker copies its objects there), model/, output/. WORK holds what
 * a container would not see: download.json, the objects this instance
 * gets per channel ({"channels": {"train": [{"key", "source" (the
 * object's file in the engine's store), "dest" (path under the channel
 * directory), "size"}]}}), and the worker's row caches.
 *
 * Streams: stdout and stderr are the container's output; the engine
 * writes each line to the instance's CloudWatch stream. File descriptor
 * LOCAL_WORKER_FD is a socket to the engine carrying the messages below.
 * A worker ends with exit status 0 (its work done), 1 after writing
 * ROOT/output/failure with a "ClientError: " reason (bad data or
 * hyperparameters), 2 after writing an "AlgorithmError: " reason, or 3
 * when the engine went away (EOF on the socket).
 *
 * Messages: a header {uint32 type, uint32 op, uint64 len} in host byte
 * order (both ends run on one machine) and len payload bytes. In order,
 * a worker sends:
 *
 *   DOWNLOADED [f64 objects, f64 bytes]   its channels are copied; the
 *                                         job is Training once all are
 *   REDUCE MOMENTS [f64 dim, moments...]  sync point 1: dim is the width
 *                                         of its train rows (0 for an
 *                                         empty shard, then no moments);
 *                                         moments is ll_moments_export.
 *                                         Reply: [f64 dim, merged]
 *   per epoch, K times (K = the job Environment's
 *   SAGERUN_SYNCS_PER_EPOCH, 1 to 1000, default 1; the last at the
 *   epoch's end, the others after each 1/K of the instance's rows):
 *   REDUCE MEAN [f64 weight, f32 params...] sync point 2: weight is the
 *                                         rows trained since the last
 *                                         sync; reply the weighted mean
 *                                         (ll_params_mean)
 *   then once per epoch:
 *   REDUCE SUM or FIRST [f64...]          evaluation sums (ll_eval):
 *                                         SUM when instances evaluate
 *                                         different rows, FIRST (algo-1's)
 *                                         when all see the same rows
 *   REDUCE FIRST [f64 stop]               algo-1's early-stopping
 *                                         decision, so all stop together
 *   after the last epoch:
 *   REDUCE SUM or FIRST [f64...]          test channel sums (if any)
 *   FINAL <JSON>                          algo-1 only: FinalMetricDataList
 *                                         items without timestamps
 *
 * The engine answers each REDUCE once every instance sent the same op
 * with the same length (MOMENTS: lengths follow dim), so instances move
 * in lockstep; a mismatch fails the job. */
#ifndef SAGERUN_LOCAL_WORKER_H
#define SAGERUN_LOCAL_WORKER_H

#include <stdint.h>

#define LOCAL_WORKER_FD 3

/* Largest message payload either side accepts. */
#define LOCAL_WORKER_MAX_MSG ((uint64_t)1 << 31)

enum local_worker_type {
  LOCAL_WORKER_DOWNLOADED = 1,
  LOCAL_WORKER_REDUCE = 2,
  LOCAL_WORKER_FINAL = 3
};

enum local_worker_op {
  LOCAL_WORKER_OP_NONE = 0,
  LOCAL_WORKER_OP_MOMENTS = 1,
  LOCAL_WORKER_OP_MEAN = 2,
  LOCAL_WORKER_OP_SUM = 3,
  LOCAL_WORKER_OP_FIRST = 4
};

struct local_worker_header {
  uint32_t type;
  uint32_t op;
  uint64_t len;
};

/* Exit statuses. */
#define LOCAL_WORKER_EXIT_CLIENT 1
#define LOCAL_WORKER_EXIT_ALGORITHM 2
#define LOCAL_WORKER_EXIT_ORPHAN 3

/* `sagerun local worker ARGS` (argv[0] is "worker"). Returns the exit
 * status. */
int local_worker_main(int argc, char **argv);

#endif
