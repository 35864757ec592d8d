import sys

print("loading data", flush=True)
print("about to fail: bad data in row 7", flush=True)
sys.exit(3)
