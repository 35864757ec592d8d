"""Train a small Keras regression model on the cloudml runtime contract: any provider, one or many workers.

What it reads and writes (cloudml's launcher sets these on every provider):
- data: CSV files ``feature_1,...,feature_n,label`` (a header line is skipped) in the ``training`` channel
  (``CLOUDML_CHANNEL_TRAINING``); without that channel it trains on 512 synthetic rows, so it runs as is.
  Every worker reads the whole channel and keeps its own shard of the rows (rows ``rank::workers``);
- hyperparameters, as ``--key value``: ``epochs``, ``batch_size`` (per replica), ``learning_rate``, ``hidden``,
  ``seed``, ``export_layout`` (``versioned``: ``<model dir>/1/``, the default; ``root``: the model dir itself);
- ``CLOUDML_CHECKPOINT_DIR``: a checkpoint after every epoch (``tf.train.CheckpointManager``, whose index file
  is replaced atomically, so a job killed mid-save resumes from the previous complete one). A job restarted
  with the same checkpoint location resumes after the last completed epoch and logs
  ``resumed from checkpoint at epoch N``;
- ``CLOUDML_MODEL_DIR``: a TensorFlow SavedModel with a ``serving_default`` signature taking ``features``
  (float32, shape [batch, n]). Default layout ``1/saved_model.pb``: the SageMaker TF Serving layout, which TF
  Serving and cloudml's serving adapter also read. Vertex's prebuilt TF serving image wants
  ``saved_model.pb`` at the artifact root: pass ``export_layout=root`` (or point the model at ``.../1``);
- ``TF_CONFIG`` (set by the launcher for ``distribution="multi_worker_mirrored"`` on several nodes, or by the
  platform): ``tf.distribute.MultiWorkerMirroredStrategy``; gradients are all-reduced every step, so all
  workers end with the same weights. Only the chief (rank 0) writes the real checkpoint and model; the other
  workers save to temporary folders, as TensorFlow requires every worker to take part in a save.

The loop is a ``strategy.run`` loop rather than ``model.fit``: Keras 3's ``fit`` does not run under
MultiWorkerMirroredStrategy (keras-team/keras#20585), and one loop serves one worker and many alike.
Log lines: ``epoch E loss L`` per epoch (chief), one ``sample predictions`` JSON line (chief) and one
``final weights checksum`` line per worker.
"""

import argparse
import glob
import hashlib
import json
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch_size", "--batch-size", type=int, default=32)
    p.add_argument("--learning_rate", "--learning-rate", type=float, default=0.01)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--export_layout", "--export-layout", choices=("versioned", "root"), default="versioned")
    args, _ = p.parse_known_args()
    return args


def cluster():
    """(rank, workers) from TF_CONFIG: a chief (if any) is rank 0, then the workers in order."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    spec = config.get("cluster", {})
    if spec.get("ps"):
        raise SystemExit("this script implements distribution='multi_worker_mirrored'; parameter_server needs "
                         "a tf.distribute.coordinator.ClusterCoordinator training loop")
    chiefs, workers = len(spec.get("chief", [])), len(spec.get("worker", []))
    task = config.get("task", {})
    index = int(task.get("index", 0))
    rank = index if task.get("type") == "chief" else chiefs + index
    return rank, max(1, chiefs + workers)


def load_rows(seed):
    channel = os.environ.get("CLOUDML_CHANNEL_TRAINING")
    files = sorted(glob.glob(os.path.join(channel, "**", "*.csv"), recursive=True)) if channel else []
    if not files:
        print("no 'training' channel with CSV files: using 512 synthetic rows y = 2*x1 - x2 + 1", flush=True)
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1, 1, (512, 2))
        y = x @ np.array([2.0, -1.0]) + 1 + rng.normal(0, 0.01, 512)
        return np.column_stack([x, y]).astype("float32")
    rows = np.concatenate([np.genfromtxt(f, delimiter=",", ndmin=2, dtype="float32") for f in files])
    return rows[~np.isnan(rows).any(axis=1)]  # drops header lines


def main():
    args = parse_args()
    rank, workers = cluster()
    is_chief = rank == 0
    if workers > 1:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif len(tf.config.list_physical_devices("GPU")) > 1:
        strategy = tf.distribute.MirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()
    keras.utils.set_random_seed(args.seed)  # same initial weights everywhere (MWMS syncs them anyway)

    rows = load_rows(args.seed)
    per_worker = len(rows) // workers  # equal shards: every worker runs the same number of steps
    shard = rows[rank::workers][:per_worker]
    x, y = shard[:, :-1], shard[:, -1:]
    replicas = strategy.num_replicas_in_sync
    local_replicas = max(1, replicas // workers)
    batch = max(1, min(args.batch_size, per_worker // local_replicas))
    global_batch = batch * replicas

    def dataset_fn(ctx):
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=args.seed + rank)
        return ds.batch(batch, drop_remainder=True).prefetch(2)

    dataset = strategy.distribute_datasets_from_function(dataset_fn)

    with strategy.scope():
        model = keras.Sequential([
            keras.Input((x.shape[1],), name="features"),
            keras.layers.Dense(args.hidden, activation="relu"),
            keras.layers.Dense(1),
        ])
        optimizer = keras.optimizers.Adam(args.learning_rate)
        optimizer.build(model.trainable_variables)
    epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epochs_done=epochs_done)

    ckpt_dir = os.environ.get("CLOUDML_CHECKPOINT_DIR") or tempfile.mkdtemp()
    latest = tf.train.latest_checkpoint(ckpt_dir)
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
        print(f"resumed from checkpoint at epoch {int(epochs_done.numpy())} ({os.path.basename(latest)})",
              flush=True)
    write_dir = ckpt_dir if is_chief else tempfile.mkdtemp(prefix=f"ckpt-worker{rank}-")
    manager = tf.train.CheckpointManager(checkpoint, write_dir, max_to_keep=2)

    def replica_step(xb, yb):
        with tf.GradientTape() as tape:
            per_example = tf.reduce_mean(tf.square(model(xb, training=True) - yb), axis=-1)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))  # all-reduced across replicas
        return loss

    @tf.function
    def train_step(xb, yb):
        return strategy.reduce("SUM", strategy.run(replica_step, args=(xb, yb)), axis=None)

    for epoch in range(int(epochs_done.numpy()), args.epochs):
        total, steps = 0.0, 0
        for xb, yb in dataset:
            total += float(train_step(xb, yb))
            steps += 1
        epochs_done.assign(epoch + 1)
        manager.save(checkpoint_number=epoch + 1)  # every worker saves; only the chief's is kept
        if is_chief:
            print(f"epoch {epoch} loss {total / max(steps, 1):.6f}", flush=True)

    weights = np.concatenate([v.numpy().ravel() for v in model.weights]).astype("float32")
    print(f"[worker {rank}/{workers}] trained on {len(x)} rows (data {hashlib.sha256(x.tobytes()).hexdigest()[:12]})"
          f", final weights checksum {hashlib.sha256(weights.tobytes()).hexdigest()[:16]}", flush=True)

    model_dir = os.environ.get("CLOUDML_MODEL_DIR") or tempfile.mkdtemp()
    export_dir = (os.path.join(model_dir, "1") if args.export_layout == "versioned" else model_dir) if is_chief \
        else tempfile.mkdtemp(prefix=f"model-worker{rank}-")
    model.export(export_dir, format="tf_saved_model", verbose=False)
    if is_chief:
        sample = x[:3]
        predictions = model(sample, training=False).numpy()
        print("sample predictions " + json.dumps({"instances": sample.tolist(), "predictions": predictions.tolist()}),
              flush=True)
        print(f"saved model to {export_dir}", flush=True)
    else:
        shutil.rmtree(write_dir, ignore_errors=True)
        shutil.rmtree(export_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
