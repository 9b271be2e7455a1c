"""RGB streams from an image folder (Pillow) or a video file (PyAV, the optional ``video`` extra).

Images are ordered by the last number in their file names (``frame_2`` before
``frame_10``), or by name when some have none. Timestamps are ``i / fps``,
the numbers in the names (``timestamps=names``) or, for a video, the
container's presentation times (``timestamps=container``), shifted so that the
first frame is at ``time_offset_s``. PNG or JPEG files are stored as they are
unless another encoding is asked for; every frame is decoded once on import to
prove it is readable.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from wavecap.errors import DataError

from .options import CameraOptions
from .report import ImportReport
from .streams import CameraData, RadarData, write_session
from .units import TIME_SCALE, time_unit

if TYPE_CHECKING:
    from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_LAST_NUMBER = re.compile(r"(\d+(?:\.\d+)?)(?!.*\d)")
# Field of view assumed when no intrinsics are given (a typical webcam).
DEFAULT_HFOV_DEG = 53.0
# OpenCV camera axes in world when no extrinsic is given: looking along world
# +y (a level radar's boresight) with image x along world x and image down along -z.
DEFAULT_R_WORLD_FROM_CAMERA = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def _open_image(data: bytes | str, where: str, frame: int) -> Image.Image:
    """Pillow's lazy image of a file or file bytes (header read only)."""
    from PIL import Image  # Pillow comes with matplotlib; only image imports need it

    try:
        return Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
    # Pillow reports bad files with many exception types (OSError, SyntaxError, ...).
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"not a readable image ({exc})", file=where, group="/camera", frame=frame) from exc


def _decode(data: bytes, where: str, frame: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file's bytes."""
    image = _open_image(data, where, frame)
    try:
        with image:
            return np.asarray(image.convert("RGB"))
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot decode image ({exc})", file=where, group="/camera", frame=frame) from exc


def camera_geometry(width: int, height: int, options: CameraOptions, report: ImportReport) -> tuple[np.ndarray,
                                                                                                     np.ndarray]:
    """Intrinsics (3, 3) and T_world_from_camera (4, 4) from the options, or stated defaults."""
    if options.intrinsics is not None:
        fx, fy, cx, cy = (float(v) for v in options.intrinsics)
        report.assume("camera.intrinsics", "given")
    else:
        fx = fy = width / (2.0 * math.tan(math.radians(DEFAULT_HFOV_DEG) / 2.0))
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        report.warn(f"camera intrinsics guessed: {DEFAULT_HFOV_DEG:g} deg horizontal field of view, centred "
                    "principal point; set camera_options.intrinsics")
    k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    extrinsic = options.T_world_from_camera
    if extrinsic is None:
        extrinsic = np.eye(4)
        extrinsic[:3, :3] = DEFAULT_R_WORLD_FROM_CAMERA
        report.assume("camera.extrinsic", "camera at the world origin looking along +y (co-located with a level "
                                          "radar); set camera_options.T_world_from_camera")
    return k, extrinsic


def _name_times(numbers: list[float], options: CameraOptions, where: str) -> tuple[np.ndarray, str]:
    values = np.asarray(numbers, dtype=np.float64)
    if options.name_unit == "frame":
        seconds, why = values / options.fps, f"file-name numbers are frame indices at {options.fps:g} fps"
    else:
        steps = np.diff(values)
        unit, why = time_unit(float(np.median(steps)) if len(steps) else 0.0, options.fps, options.name_unit)
        seconds = values * TIME_SCALE[unit]
    if len(seconds) > 1 and (np.diff(seconds) <= 0).any():
        i = int(np.argmax(np.diff(seconds) <= 0)) + 1
        raise DataError("file-name times do not increase", file=where, group="/camera", frame=i)
    return seconds - seconds[0], f"file names ({why})"


def read_image_folder(folder: str | os.PathLike[str], options: CameraOptions, report: ImportReport) -> CameraData:
    """An RGB stream from the images in ``folder`` (not recursive).

    Raises:
        DataError: no images, mixed sizes, an unreadable file, unusable name times.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise DataError("not a folder", file=folder)
    files = [p for p in sorted(Path(folder).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if not files:
        raise DataError(f"no image files ({', '.join(IMAGE_SUFFIXES)})", file=folder)
    matches = [_LAST_NUMBER.search(p.stem) for p in files]
    numbers = [float(m[1]) for m in matches if m]
    if len(numbers) == len(files):
        order = sorted(range(len(files)), key=lambda i: (numbers[i], files[i].name))
        files, numbers = [files[i] for i in order], [numbers[i] for i in order]
    mode = "fps" if options.timestamps == "auto" else options.timestamps
    if mode == "container":
        raise DataError("images have no container timestamps; use timestamps=fps or names", file=folder)
    if mode == "names":
        if len(numbers) != len(files):
            raise DataError("timestamps=names but some file names hold no number", file=folder)
        t, source = _name_times(numbers, options, folder)
    else:
        t, source = np.arange(len(files)) / options.fps, f"synthesised at {options.fps:g} fps"
    t = t + options.time_offset_s
    formats, sizes = set(), set()
    for i, path in enumerate(files):
        with _open_image(str(path), str(path), i) as image:
            formats.add(image.format)
            sizes.add(image.size)
    if len(sizes) != 1:
        raise DataError(f"images of different sizes {sorted(sizes)[:3]}", file=folder, group="/camera")
    (width, height), = sizes
    keep = options.encoding == "auto" and formats in ({"PNG"}, {"JPEG"})
    encoding = formats.pop().lower() if keep else None if options.encoding in ("auto", "raw") else options.encoding

    def frames() -> Iterator[tuple[np.ndarray | bytes, float]]:
        for i, (path, ti) in enumerate(zip(files, t)):
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise DataError(f"cannot read ({exc})", file=str(path), group="/camera", frame=i) from exc
            image = _decode(data, str(path), i)
            if image.shape != (height, width, 3):
                raise DataError(f"image is {image.shape[1]}x{image.shape[0]}, expected {width}x{height}",
                                file=str(path), group="/camera", frame=i)
            yield (data if keep else image), float(ti)

    intrinsics, extrinsic = camera_geometry(width, height, options, report)
    report.assume("camera.timestamps", source)
    figures = {"files": len(files), "stored_as": f"{encoding} files as they are" if keep else (encoding or "raw")}
    return CameraData(width, height, intrinsics, extrinsic, options.fps, encoding, frames, len(files), source, figures)


def read_video(path: str | os.PathLike[str], options: CameraOptions, report: ImportReport) -> CameraData:
    """An RGB stream decoded from a video file with PyAV.

    Raises:
        ImportError: PyAV is not installed (``pip install wavecap[video]``).
        DataError: no video stream, undecodable data, unusable timestamps.
    """
    try:
        import av
    except ImportError as exc:
        raise ImportError("video import needs PyAV: pip install 'wavecap[video]' (or pip install av)") from exc
    path = os.fspath(path)
    errors = (av.error.FFmpegError, OSError, ValueError, IndexError)
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise DataError("no video stream", file=path)
            stream = container.streams.video[0]
            width, height = int(stream.codec_context.width), int(stream.codec_context.height)
            rate = float(stream.average_rate) if stream.average_rate else options.fps
            count = int(stream.frames) or None
    except errors as exc:
        raise DataError(f"cannot open video ({exc})", file=path) from exc
    if width <= 0 or height <= 0:
        raise DataError(f"video size {width}x{height}", file=path)
    mode = "container" if options.timestamps == "auto" else options.timestamps
    if mode == "names":
        raise DataError("a video has no file names per frame; use timestamps=container or fps", file=path)
    fps = rate if mode == "container" else options.fps
    encoding = None if options.encoding in ("auto", "raw") else options.encoding

    def frames() -> Iterator[tuple[np.ndarray | bytes, float]]:
        first = None
        last = -math.inf
        try:
            with av.open(path) as container:
                for i, frame in enumerate(container.decode(video=0)):
                    image = frame.to_ndarray(format="rgb24")
                    if mode == "container":
                        if frame.time is None or frame.time <= last:
                            raise DataError(f"container timestamp {frame.time!r} missing or not after {last!r}; "
                                            "use camera_options.timestamps=fps", file=path, group="/camera", frame=i)
                        last = frame.time
                        first = frame.time if first is None else first
                        t = frame.time - first
                    else:
                        t = i / options.fps
                    if image.shape != (height, width, 3):
                        raise DataError(f"frame is {image.shape}, expected ({height}, {width}, 3)", file=path,
                                        group="/camera", frame=i)
                    yield image, t + options.time_offset_s
        except errors as exc:
            raise DataError(f"cannot decode video ({exc})", file=path, group="/camera") from exc

    intrinsics, extrinsic = camera_geometry(width, height, options, report)
    source = "container presentation times" if mode == "container" else f"synthesised at {options.fps:g} fps"
    report.assume("camera.timestamps", source)
    return CameraData(width, height, intrinsics, extrinsic, fps, encoding, frames, count, source,
                      {"stored_as": encoding or "raw"})


def read_camera(images: str | None, video: str | None, options: CameraOptions,
                report: ImportReport) -> CameraData | None:
    """The camera stream from an image folder or a video file, whichever is given (None if neither)."""
    if images and video:
        raise ValueError("give images or video, not both")
    if images:
        report.inputs["images"] = os.fspath(images)
        return read_image_folder(images, options, report)
    if video:
        report.inputs["video"] = os.fspath(video)
        return read_video(video, options, report)
    return None


def import_images(images: str, out: str, *, camera_options: CameraOptions | None = None, overwrite: bool = False,
                  compression: str | None = "lzf", progress: bool = False) -> ImportReport:
    """Import an image folder as a session with a camera stream and an empty radar stream.

    Args:
        images: folder of PNG/JPEG/... images (never modified).
        out: session file to write.
        camera_options: timestamps, intrinsics, extrinsic, encoding.
        overwrite: replace an existing ``out``.
        compression: HDF5 filter.
        progress: progress bar.
    """
    report = ImportReport("images")
    camera = read_camera(images, None, camera_options or CameraOptions(), report)
    report.warn("no radar in this import: the session's radar stream is empty")
    return write_session(out, report, RadarData.empty(), camera=camera, description=f"images from {images}",
                         overwrite=overwrite, compression=compression, progress=progress)


def import_video(video: str, out: str, *, camera_options: CameraOptions | None = None, overwrite: bool = False,
                 compression: str | None = "lzf", progress: bool = False) -> ImportReport:
    """Import a video file as a session with a camera stream and an empty radar stream (see ``import_images``)."""
    report = ImportReport("video")
    camera = read_camera(None, video, camera_options or CameraOptions(), report)
    report.warn("no radar in this import: the session's radar stream is empty")
    return write_session(out, report, RadarData.empty(), camera=camera, description=f"video {video}",
                         overwrite=overwrite, compression=compression, progress=progress)
