import time

for i in range(600):
    print(f"still working {i}", flush=True)
    time.sleep(0.2)
