"""Every kind of metric, plus tags and properties, logged into one interactive run."""

import math
import struct
import tempfile
import zlib
from pathlib import Path

from runner import Experiment, Workspace, WorkspaceNotFound

HERE = Path(__file__).resolve().parent


def write_png(path, width=80, height=40):
    """Write a grayscale PNG of a sine curve using only the standard library."""
    pixels = [[255] * width for _ in range(height)]
    for x in range(width):
        y = round((height - 1) / 2 * (1 - math.sin(2 * math.pi * x / width)))
        pixels[y][x] = 0
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)  # filter byte 0 per row

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


try:
    ws = Workspace.from_config()
except WorkspaceNotFound:
    ws = Workspace.create(".")
    print(f"No workspace found: created one in {ws.root}")
exp = Experiment(ws, "logging-api")
run = exp.start_logging(snapshot_directory=HERE, outputs=False)

# A value logged once is a bare value; a list logged at once is a list.
run.log("A single number", 2)
run.log_list("Fibonacci numbers", [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89])

sines = {"angle": [], "sine": []}
for i in range(-10, 10):
    # Logged repeatedly: a list in logged order.
    run.log("Sigmoid", 1 / (1 + math.exp(-i)))
    angle = i / 2.0
    # One row at a time: a table, {column: [...]}.
    run.log_row("Cosine Wave", angle=angle, cos=math.cos(angle))
    sines["angle"].append(angle)
    sines["sine"].append(math.sin(angle))

# A whole table at once.
run.log_table("Sine Wave", sines)

# An image: a matplotlib plot when matplotlib is installed, else a PNG file.
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    with tempfile.TemporaryDirectory() as tmp:
        run.log_image("Sample image", path=write_png(Path(tmp) / "sine.png"))
else:
    plt.plot(sines["angle"], sines["sine"])
    run.log_image("Sample image", plot=plt)

run.tag("Run type", "example")
run.tag("Quick")  # a tag without a value
run.add_properties({"dataset": "synthetic"})  # properties are add-only

run.complete()
print("Metrics:", run.get_metrics())
print("Tags:", run.get_tags())
print("Properties:", run.get_properties())
