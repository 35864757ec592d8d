"""Code that runs inside the training/serving container (and on ``local``): standard library only.

This package is copied into every bundle as ``cloudml_runtime/`` next to a ``cloudml_launcher.py`` shim, so
it must import nothing but the standard library and its own modules (relative imports).
"""
