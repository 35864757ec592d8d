"""Written for Vertex AI with TensorFlow: trains a Keras model and exports a SavedModel to AIP_MODEL_DIR, which
Vertex gives as gs:// (written through the Cloud Storage FUSE mount at /gcs/, as Vertex's docs suggest)."""
import os

import numpy as np
import tensorflow as tf

model_dir = os.environ["AIP_MODEL_DIR"]
if model_dir.startswith("gs://"):
    model_dir = model_dir.replace("gs://", "/gcs/", 1)

rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, size=(256, 1)).astype("float32")
y = 2 * x + 1
model = tf.keras.Sequential([tf.keras.Input(shape=(1,)), tf.keras.layers.Dense(1)])
model.compile(optimizer=tf.keras.optimizers.SGD(0.3), loss="mse")
model.fit(x, y, epochs=40, batch_size=64, verbose=0)
model.export(model_dir, format="tf_saved_model", verbose=False)
print(f"vertex-tf exported to {os.environ['AIP_MODEL_DIR']} loss={model.evaluate(x, y, verbose=0):.5f}", flush=True)
