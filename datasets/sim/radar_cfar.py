"""From ray returns to detections, as a TI processing chain would see them.

Each return falls into one resolution cell: range bin, azimuth beam,
elevation beam, Doppler bin, the beams being one Rayleigh resolution wide
(2 / elements in direction cosine). Returns in one cell cannot be separated,
so a cell gives at most one detection whose power is the sum of its returns
and whose direction is their power-weighted centroid, which is where the
peak of the zero-padded angle FFT lands for returns within one beam. A
CFAR-like test keeps cells above a threshold; random dropout and the
per-frame cap thin them further. Reported positions are the range bin
centre and the estimated direction, with Cramer-Rao-bound noise, snapped to
the zero-padded angle-FFT grid.

Doppler sign: positive = moving away from the radar (range increasing).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from .radar_config import RadarConfig

KIND_BODY, KIND_CLUTTER, KIND_GHOST = 0, 1, 2


@dataclass(frozen=True)
class Detections:
    """Detected cells with the ground truth of what produced them.

    Attributes:
        bins: [n, 4] int64 (range, azimuth, elevation, Doppler) cell indices;
            range bin k is centred on k * range resolution, beam k on
            direction cosine k * 2 / elements, Doppler bin k on k * Doppler
            resolution (wrapped into [-num_loops/2, num_loops/2)).
        direction: [n, 2] float64 power-weighted direction cosines (u along
            radar x, w along radar z) of the cell's returns.
        snr_db: [n] float64 measured SNR (dB).
        kind: [n] int8, ``KIND_BODY`` / ``KIND_CLUTTER`` / ``KIND_GHOST``.
        link: [n] int64 link index of the strongest return (-1 base).
        position: [n, 3] float64 power-weighted true scatterer position, world (m).
        velocity: [n, 3] float64 power-weighted true scatterer velocity, world (m/s).
        radial_velocity: [n] float64 true radial velocity the Doppler measures
            (m/s, positive away), power-weighted.
    """

    bins: np.ndarray
    direction: np.ndarray
    snr_db: np.ndarray
    kind: np.ndarray
    link: np.ndarray
    position: np.ndarray
    velocity: np.ndarray
    radial_velocity: np.ndarray

    def __len__(self) -> int:
        return len(self.snr_db)

    def take(self, index: np.ndarray) -> Detections:
        """The detections at ``index`` (integer or boolean), in that order."""
        return Detections(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def empty() -> Detections:
        """No detections."""
        return Detections(
            bins=np.zeros((0, 4), np.int64), direction=np.zeros((0, 2)), snr_db=np.zeros(0), kind=np.zeros(0, np.int8),
            link=np.zeros(0, np.int64), position=np.zeros((0, 3)), velocity=np.zeros((0, 3)),
            radial_velocity=np.zeros(0),
        )

    @staticmethod
    def concatenate(parts: list[Detections]) -> Detections:
        """All detections of ``parts``, in order."""
        return Detections(**{f.name: np.concatenate([getattr(d, f.name) for d in parts]) for f in fields(Detections)})


def cell_bins(
    range_m: np.ndarray, u: np.ndarray, w: np.ndarray, radial_velocity: np.ndarray, config: RadarConfig
) -> np.ndarray:
    """Resolution cell of returns.

    Args:
        range_m: [N] range (m).
        u: [N] direction cosine along radar x (sin az cos el).
        w: [N] direction cosine along radar z (sin el).
        radial_velocity: [N] m/s, positive away; aliased beyond +-v_max.
        config: radar resolutions.

    Returns:
        [N, 4] int64 (range, azimuth beam, elevation beam, Doppler) indices.
    """
    half = config.num_loops // 2
    doppler = np.rint(radial_velocity / config.doppler_resolution_mps).astype(np.int64)
    doppler = (doppler + half) % config.num_loops - half  # Doppler FFT wrap-around
    return np.stack(
        [
            np.rint(range_m / config.range_resolution_m).astype(np.int64),
            np.rint(u / config.azimuth_resolution_rad).astype(np.int64),
            np.rint(w / config.elevation_resolution_rad).astype(np.int64),
            doppler,
        ],
        axis=1,
    )


def clutter_removal_gain(radial_velocity: np.ndarray, config: RadarConfig) -> np.ndarray:
    """Power left after subtracting the per-frame mean over chirps.

    A return at radial velocity v rotates in phase across the frame's chirps;
    its mean over the frame is ``sinc(v / Doppler resolution)`` of its
    amplitude, so the removal leaves ``1 - sinc^2``: 0 for static returns,
    ~1 beyond one Doppler bin.

    Args:
        radial_velocity: [N] m/s.
        config: radar resolutions.

    Returns:
        [N] power gain in [0, 1].
    """
    return 1.0 - np.sinc(radial_velocity / config.doppler_resolution_mps) ** 2


def merge_cells(
    bins: np.ndarray,
    direction: np.ndarray,
    power: np.ndarray,
    static: np.ndarray,
    tracked: np.ndarray,
    link: np.ndarray,
    position: np.ndarray,
    velocity: np.ndarray,
    radial_velocity: np.ndarray,
    static_survival: float,
    rng: np.random.Generator,
) -> Detections:
    """One candidate per occupied cell, its power the sum of its returns.

    Args:
        bins: [N, 4] cell of each return (``cell_bins``).
        direction: [N, 2] direction cosines (u, w) of each return, radar frame.
        power: [N] linear SNR contribution of each return.
        static: [N] bool, return from static scenery (not a dynamic body).
        tracked: [N] bool, return from a tracked person.
        link: [N] link index of each return.
        position: [N, 3] world hit points (m).
        velocity: [N, 3] world hit velocities (m/s).
        radial_velocity: [N] m/s, positive away.
        static_survival: probability that a cell's static power survives
            (1 without clutter removal, the leak rate with it).
        rng: generator for the survival draws.

    Returns:
        Candidates with the pre-fluctuation SNR; kind and link are those of
        the strongest surviving return of the cell, truths power-weighted.
    """
    if len(bins) == 0:
        return Detections.empty()
    # One integer per cell (bins are bounded), so grouping is a 1-D unique.
    low, span = bins.min(axis=0), np.ptp(bins, axis=0) + 1  # [4]
    keys = np.ravel_multi_index(tuple((bins - low).T), tuple(span))  # [N]
    _, first_of_cell, cell_of = np.unique(keys, return_index=True, return_inverse=True)
    cells = bins[first_of_cell]  # [C, 4]
    survives = rng.random(len(cells)) < static_survival  # [C]
    effective = np.where(static, power * survives[cell_of], power)  # [N]
    total = np.bincount(cell_of, effective, minlength=len(cells))  # [C]
    # Strongest return per cell: sort by cell, then by descending power.
    order = np.lexsort((-effective, cell_of))
    first = order[np.r_[0, np.flatnonzero(np.diff(cell_of[order])) + 1]]  # [C]
    weights = np.where(total > 0, total, 1.0)

    def mean(values: np.ndarray) -> np.ndarray:
        if values.ndim == 1:
            return np.bincount(cell_of, effective * values, minlength=len(cells)) / weights
        return np.stack([mean(values[:, k]) for k in range(values.shape[1])], axis=1)

    candidates = Detections(
        bins=cells,
        direction=mean(direction),
        snr_db=10.0 * np.log10(np.maximum(total, 1e-30)),
        kind=np.where(tracked[first], KIND_BODY, KIND_CLUTTER).astype(np.int8),
        link=link[first],
        position=mean(position),
        velocity=mean(velocity),
        radial_velocity=mean(radial_velocity),
    )
    return candidates.take(total > 0)


def cfar_detect(candidates: Detections, config: RadarConfig, rng: np.random.Generator) -> Detections:
    """Apply the frame's power fluctuation and the detection threshold.

    Args:
        candidates: merged cells with their mean SNR.
        config: threshold and whether powers fluctuate (Swerling I/II:
            exponential power, mean 1, independent per cell and frame).
        rng: generator for the fluctuation.

    Returns:
        Cells whose measured SNR reaches ``cfar_threshold_db``, with that SNR.
    """
    snr_db = candidates.snr_db
    if config.snr_fluctuation:
        snr_db = snr_db + 10.0 * np.log10(np.maximum(rng.exponential(size=len(snr_db)), 1e-30))
    kept = snr_db >= config.cfar_threshold_db
    return replace(candidates.take(kept), snr_db=snr_db[kept])


def thin(detections: Detections, config: RadarConfig, rng: np.random.Generator) -> Detections:
    """Random dropout, then the strongest ``max_points`` (descending SNR)."""
    kept = detections.take(rng.random(len(detections)) >= config.dropout_rate)
    order = np.argsort(-kept.snr_db, kind="stable")[: config.max_points]
    return kept.take(order)


def estimation_noise_std(snr_db: np.ndarray, config: RadarConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cramer-Rao-bound std of the range and direction-cosine estimates.

    The SNR is per virtual antenna after the range and Doppler FFTs (what
    TI's detector thresholds). Range: a tone's frequency from its FFT peak,
    ``resolution * sqrt(6) / (2 pi sqrt(SNR))``. Angle: a tone across an
    N-element lambda/2 array, ``sqrt(6 / (N (N^2 - 1) M SNR)) / pi`` in
    direction cosine, with M independent such arrays averaged (1 in
    azimuth, ``elevation_columns`` in elevation). Each is scaled by the
    config's noise scale.

    Args:
        snr_db: [n] detection SNR (dB).
        config: array sizes, resolutions, noise scales.

    Returns:
        Stds of range (m), azimuth and elevation direction cosines, each [n].
    """
    snr = 10.0 ** (np.asarray(snr_db, dtype=np.float64) / 10.0)

    def array_bound(elements: int, repeats: int) -> np.ndarray:
        return np.sqrt(6.0 / (elements * max(elements**2 - 1, 1) * repeats * snr)) / np.pi

    sigma_r = config.range_noise_scale * config.range_resolution_m * np.sqrt(6.0 / snr) / (2.0 * np.pi)
    return (
        sigma_r,
        config.angle_noise_scale * array_bound(config.azimuth_elements, 1),
        config.angle_noise_scale * array_bound(config.elevation_elements, config.elevation_columns),
    )


def report_points(detections: Detections, config: RadarConfig, rng: np.random.Generator) -> np.ndarray:
    """Point cloud columns x, y, z, doppler, snr in the radar frame.

    Range is the bin centre plus noise; the direction is the cell's centroid
    plus noise (``estimation_noise_std``: weak points are noisier), snapped
    to the zero-padded angle-FFT grid; Doppler is the bin centre.

    Args:
        detections: what to report.
        config: resolutions, FFT sizes and noise scales.
        rng: generator for the noise.

    Returns:
        [n, 5] float32: x, y, z (m, radar frame), doppler (m/s, positive
        away), snr (dB).
    """
    du, dw = 2.0 / config.azimuth_fft_size, 2.0 / config.elevation_fft_size
    sigma_r, sigma_u, sigma_w = estimation_noise_std(detections.snr_db, config)
    noise_r, noise_u, noise_w = rng.standard_normal((3, len(detections)))
    r = np.maximum(detections.bins[:, 0] * config.range_resolution_m + noise_r * sigma_r, 0.0)
    u = np.rint((detections.direction[:, 0] + noise_u * sigma_u) / du) * du
    w = np.rint((detections.direction[:, 1] + noise_w * sigma_w) / dw) * dw
    norm = np.hypot(u, w)
    shrink = np.where(norm > 1.0, 1.0 / np.maximum(norm, 1e-12), 1.0)  # stay on the unit sphere
    u, w = u * shrink, w * shrink
    y = np.sqrt(np.maximum(1.0 - u**2 - w**2, 0.0))
    doppler = detections.bins[:, 3] * config.doppler_resolution_mps
    return np.stack([r * u, r * y, r * w, doppler, detections.snr_db], axis=1).astype(np.float32)
