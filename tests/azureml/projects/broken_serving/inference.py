def model_fn(model_dir):
    raise RuntimeError("cannot load weights: corrupted file")
