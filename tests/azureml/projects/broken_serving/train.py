import os

open(os.path.join(os.environ["CLOUDML_MODEL_DIR"], "weights.txt"), "w").write("1.0")
