"""Prints exactly what the script was given (argv, SM_HPS), so a test can check hyperparameters keep their types."""
import json
import os
import sys

print("hp-echo " + json.dumps({"argv": sys.argv[1:], "sm_hps": json.loads(os.environ["SM_HPS"])}), flush=True)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "hps.json"), "w") as f:
    json.dump(json.loads(os.environ["SM_HPS"]), f)
