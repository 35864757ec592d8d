"""4. Upload throughput of a 200 MB input channel to moto S3 (the SageMaker rig's server on 127.0.0.1).

cloudml: ``SageMakerProvider.upload_channel(folder)``, the path ``submit`` takes for a local channel (tree
digest over every file's sha256, one listing, then ``upload_file`` for what is missing). Baseline: boto3's own
``s3.upload_file`` of the same file with default transfer settings (a client with path-style addressing, as
any client of a local endpoint needs). Both clients are created and used once before timing; the objects are
deleted between runs (else cloudml would rightly skip the upload); runs interleaved. Throughput = 200 MB /
wall time. Budget: cloudml within 10% of boto3 (median throughput >= 0.9x).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from benchmarks._harness import Check, Context, Figure, interleaved, log

GROUP = "4 upload"
SIZE = 200_000_000


def write_random(path: Path, size: int) -> None:
    import random

    rng = random.Random(4)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 << 20)
            f.write(rng.randbytes(n))
            left -= n


def run(ctx: Context) -> list[Figure]:
    import boto3
    from botocore.config import Config

    from cloudml.providers.sagemaker import SageMakerProvider
    from tests.rigs.sagemaker import BUCKET, REGION
    from tests.rigs.sagemaker_fixtures import _acquire, _release

    work = ctx.tempdir("upload")
    channel = work / "channel"
    channel.mkdir()
    write_random(channel / "train.bin", SIZE)
    small = work / "small"
    small.mkdir()
    (small / "x.bin").write_bytes(b"x" * 1000)
    rig = _acquire()
    try:
        rig.reset()
        provider = SageMakerProvider(**rig.provider_options())
        s3 = boto3.session.Session(region_name=REGION).client("s3", endpoint_url=rig.url,
                                                              config=Config(s3={"addressing_style": "path"}))
        admin = rig.client("s3")

        def clear() -> None:
            for page in admin.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
                for obj in page.get("Contents", []):
                    admin.delete_object(Bucket=BUCKET, Key=obj["Key"])

        provider.upload_channel(str(small))       # clients created, connections open
        s3.upload_file(str(small / "x.bin"), BUCKET, "warm/x.bin")

        def with_cloudml() -> None:
            clear()
            provider.upload_channel(str(channel))

        def with_boto3() -> None:
            clear()
            s3.upload_file(str(channel / "train.bin"), BUCKET, "baseline/train.bin")

        runs = ctx.repeats(4, 2)
        log(f"{SIZE / 1e6:.0f} MB x {runs} runs each (plus one warm-up)")
        t = interleaved({"cloudml": with_cloudml, "boto3": with_boto3}, runs, warmup=1)
        clear()
    finally:
        _release()
    ours = [SIZE / s for s in t["cloudml"]]
    theirs = [SIZE / s for s in t["boto3"]]
    ratio = statistics.median(ours) / statistics.median(theirs)
    return [Figure(GROUP, f"upload a {SIZE / 1e6:.0f} MB channel to moto S3 (upload_channel)", "bytes/s", ours,
                   "boto3 upload_file, default settings", theirs, budget="within 10% of boto3",
                   checks=[Check(f"{ratio:.2f}x boto3's throughput vs >= 0.90x", ratio >= 0.9)],
                   higher_is_better=True,
                   note="cloudml also reads the file once more for its content hash (the key that makes re-fits "
                        "upload nothing)")]
