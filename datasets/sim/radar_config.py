"""Parameters of the simulated FMCW radar, with the resolutions they imply.

Defaults describe a TI IWR6843-class sensor (IWR6843ISK antenna layout) in a
chirp configuration of the kind TI's demos use. The derived figures, with
c = 299 792 458 m/s:

* effective bandwidth B = slope * adc_samples / sample_rate
  = 100 MHz/us * 256 / 6.4 Msps = 4.0 GHz (60 -> 64 GHz)
* range resolution c / (2 B) = 3.75 cm; range span (complex sampling)
  adc_samples * resolution = 9.6 m
* wavelength at the sweep centre (62 GHz) 4.84 mm
* TDM-MIMO loop time num_tx * (idle + ramp_end) = 3 * 55 us = 165 us, so the
  unambiguous velocity is lambda / (4 * loop) = +-7.33 m/s and the Doppler
  resolution 2 * v_max / num_loops = 0.115 m/s with 128 loops; the frame's
  active time 128 * 165 us = 21 ms fits the 50 ms frame period at 20 Hz
* virtual array: 2 azimuth TX x 4 RX = 8 elements at lambda/2 -> Rayleigh
  resolution 2/8 in sin(azimuth) (14.3 deg at boresight); TX2 raised by
  lambda/2 gives 2 elevation rows -> 2/2 in sin(elevation) (57.3 deg), the
  upper row's 4 elements sitting above 4 of the lower row's 8

Returns closer than one resolution in every dimension are one detection
(see ``radar_cfar``); its direction is then estimated finer than the
resolution and reported on the grid of the zero-padded angle FFT (64 bins
across the direction-cosine range [-1, 1], 1.8 deg at boresight), with
Cramer-Rao-bound noise.

SNR is per virtual antenna after the range and Doppler FFTs, the quantity
TI's CFAR thresholds (its detection matrix sums log powers over antennas).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from wavecap.body.skeleton import NUM_SMPL_JOINTS, SMPL_JOINT_NAMES
from wavecap.errors import DataError

SPEED_OF_LIGHT = 299_792_458.0  # m/s

# Body parts by the SMPL joint whose bone a link carries (the link of joint j
# spans j to its child), with a reflectivity relative to the torso. Skin
# reflects alike everywhere at 60 GHz; limbs return less because their strong
# curvature sends most energy away from the sensor, which the ray model's
# incidence term only partly captures at the ray density it can afford.
DEFAULT_BODY_PARTS: dict[str, dict[str, Any]] = {
    "torso": {"reflectivity": 1.0, "joints": ["pelvis", "spine1", "spine2", "spine3", "left_collar", "right_collar"]},
    "head": {"reflectivity": 0.6, "joints": ["neck", "head"]},
    "upper_arm": {"reflectivity": 0.5, "joints": ["left_shoulder", "right_shoulder"]},
    "forearm": {"reflectivity": 0.4, "joints": ["left_elbow", "right_elbow"]},
    "hand": {"reflectivity": 0.25, "joints": ["left_wrist", "right_wrist", "left_hand", "right_hand"]},
    "thigh": {"reflectivity": 0.6, "joints": ["left_hip", "right_hip"]},
    "shin": {"reflectivity": 0.45, "joints": ["left_knee", "right_knee"]},
    "foot": {"reflectivity": 0.3, "joints": ["left_ankle", "right_ankle", "left_foot", "right_foot"]},
}


def _error(name: str, message: str) -> DataError:
    return DataError(message, group="radar config", field=name)


def _coerce(name: str, kind: str, value: Any) -> Any:
    """``value`` as the field's type (YAML gives 20 for 20.0); DataError if it is not one."""
    try:
        if kind == "bool":
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind in ("int", "float"):
            if isinstance(value, bool) or (kind == "int" and float(value) != int(value)):
                raise TypeError
            return int(value) if kind == "int" else float(value)
        if kind == "str":
            return str(value)
        if name == "reflector_planes":
            return tuple(tuple(float(x) for x in plane) for plane in value)
        return value
    except (TypeError, ValueError, OverflowError):
        raise _error(name, f"expected {kind}, got {value!r}") from None


@dataclass(frozen=True)
class RadarConfig:
    """Every number of the radar model; see the module docstring for the maths.

    Attributes:
        model: sensor name written into sessions.
        frame_rate_hz: radar frames per second.
        start_frequency_ghz: chirp start frequency (GHz).
        slope_mhz_per_us: chirp slope (MHz/us).
        adc_samples: ADC samples per chirp (= range FFT size).
        sample_rate_msps: complex ADC sample rate (Msps).
        idle_time_us: idle time between chirps (us).
        ramp_end_time_us: ramp duration (us); must cover the ADC window.
        num_tx: transmitters fired in turn (TDM-MIMO).
        num_loops: chirp loops per frame (= Doppler FFT size).
        azimuth_elements: virtual elements of the azimuth row (lambda/2 spacing).
        elevation_elements: virtual rows in elevation (lambda/2 spacing).
        elevation_columns: azimuth positions where all elevation rows have an
            element; each column measures elevation, and the estimate
            averages them (IWR6843ISK: TX2's 4 RX above 4 of the 8).
        azimuth_fft_size: reported-angle grid: bins across the x direction
            cosine in [-1, 1] (zero-padded angle FFT).
        elevation_fft_size: the same for the z direction cosine.
        azimuth_fov_deg: half field of view in azimuth (deg).
        elevation_fov_deg: half field of view in elevation (deg).
        min_range_m: rays start this far out (near field, the mount).
        coarse_step_deg: angular step of the full-FOV ray grid (deg).
        roi_rays: rays spread over the angular box of the tracked bodies.
        roi_min_step_deg: finest ROI step (deg); fewer rays when the box is small.
        roi_margin_deg: margin added around the bodies' angular box (deg).
        ray_threads: ``numThreads`` of ``rayTestBatch`` (0 = all cores).
        snr_constant_db: SNR (dB) of a 1 m^2 patch of reflectivity 1 at normal
            incidence at 1 m on boresight: the radar-equation constant
            Pt G^2 lambda^2 / ((4 pi)^3 k T B F) times the FFT processing
            gain; calibrated so that a person gives TI-like point counts.
        incidence_exponent: backscatter falls as cos(incidence)^n per solid
            angle (n = 1 for a Lambertian surface, larger for glossier ones).
        antenna_pattern_exponent: two-way gain cos(az)^p cos(el)^p.
        snr_fluctuation: Swerling I/II fluctuation of each cell's power
            (exponentially distributed, mean 1) from frame to frame.
        cfar_threshold_db: detection threshold on a cell's SNR (dB).
        max_points: per-frame cap; the strongest detections are kept.
        dropout_rate: probability that a detection is missed anyway.
        range_noise_scale: range noise std as a multiple of its Cramer-Rao
            bound (``radar_cfar.estimation_noise_std``); 0 reports bin centres.
        angle_noise_scale: the same for the direction cosines (per-axis
            bound of an N-element lambda/2 array); 0 reports the centroid.
        clutter_removal: subtract the per-frame mean over chirps (TI's
            ``clutterRemoval``): static returns vanish, slow ones are damped.
        clutter_leak_rate: probability that a static-clutter cell survives the
            removal (imperfect cancellation: vibration, phase noise).
        clutter_reflectivity: reflectivity of bodies that are not tracked
            people (walls, furniture, the floor).
        ghost_probability: probability that a body detection spawns a
            multipath ghost via one of ``reflector_planes`` (the ghost must
            still pass the threshold; see ``radar_multipath``).
        ghost_attenuation_db: loss per bounce of a ghost path (dB).
        reflector_planes: infinite planes (nx, ny, nz, d), world frame,
            ``n . x = d``, n pointing into the room; default the floor z = 0.
            Add the scene's walls here.
        link_joint_offset: SMPL joint of a tracked body's link index
            (``joint = link + offset``; with 1 the base (-1) is the pelvis).
        body_parts: part name -> {"reflectivity", "joints" (SMPL names)}.
        default_reflectivity: links of tracked bodies that map to no part.
    """

    model: str = "IWR6843"
    frame_rate_hz: float = 20.0
    start_frequency_ghz: float = 60.0
    slope_mhz_per_us: float = 100.0
    adc_samples: int = 256
    sample_rate_msps: float = 6.4
    idle_time_us: float = 7.0
    ramp_end_time_us: float = 48.0
    num_tx: int = 3
    num_loops: int = 128
    azimuth_elements: int = 8
    elevation_elements: int = 2
    elevation_columns: int = 4
    azimuth_fft_size: int = 64
    elevation_fft_size: int = 64
    azimuth_fov_deg: float = 60.0
    elevation_fov_deg: float = 25.0
    min_range_m: float = 0.2
    coarse_step_deg: float = 4.0
    roi_rays: int = 1000
    roi_min_step_deg: float = 0.15
    roi_margin_deg: float = 1.0
    ray_threads: int = 0
    snr_constant_db: float = 72.0
    incidence_exponent: float = 1.0
    antenna_pattern_exponent: float = 2.0
    snr_fluctuation: bool = True
    cfar_threshold_db: float = 15.0
    max_points: int = 150
    dropout_rate: float = 0.1
    range_noise_scale: float = 1.0
    angle_noise_scale: float = 1.0
    clutter_removal: bool = True
    clutter_leak_rate: float = 0.005
    clutter_reflectivity: float = 1.0
    ghost_probability: float = 0.05
    ghost_attenuation_db: float = 8.0
    reflector_planes: tuple[tuple[float, float, float, float], ...] = ((0.0, 0.0, 1.0, 0.0),)
    link_joint_offset: int = 1
    body_parts: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: copy.deepcopy(DEFAULT_BODY_PARTS))
    default_reflectivity: float = 1.0

    def __post_init__(self) -> None:
        positive = (
            "frame_rate_hz", "start_frequency_ghz", "slope_mhz_per_us", "adc_samples", "sample_rate_msps",
            "ramp_end_time_us", "num_tx", "num_loops", "azimuth_elements", "elevation_elements", "elevation_columns",
            "azimuth_fft_size", "elevation_fft_size", "azimuth_fov_deg", "elevation_fov_deg",
            "coarse_step_deg", "roi_min_step_deg", "max_points",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise _error(name, f"must be > 0, got {getattr(self, name)!r}")
        non_negative = (
            "idle_time_us", "min_range_m", "roi_rays", "roi_margin_deg", "ray_threads", "incidence_exponent",
            "antenna_pattern_exponent", "range_noise_scale", "angle_noise_scale", "clutter_reflectivity",
            "ghost_attenuation_db", "default_reflectivity",
        )
        for name in non_negative:
            if not getattr(self, name) >= 0:
                raise _error(name, f"must be >= 0, got {getattr(self, name)!r}")
        for name in ("dropout_rate", "clutter_leak_rate", "ghost_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise _error(name, f"must be a probability in [0, 1], got {getattr(self, name)!r}")
        for name in ("azimuth_fov_deg", "elevation_fov_deg"):
            if not getattr(self, name) < 90.0:
                raise _error(name, "half fields of view must be < 90 deg")
        adc_window_us = self.adc_samples / self.sample_rate_msps
        if self.ramp_end_time_us < adc_window_us:
            raise _error(
                "ramp_end_time_us", f"ramp {self.ramp_end_time_us} us < ADC window {adc_window_us} us"
            )
        if self.min_range_m >= self.max_range_m:
            raise _error("min_range_m", f"must be below the maximum range {self.max_range_m:.2f} m")
        if self.num_loops * self.loop_time_s > 1.0 / self.frame_rate_hz:
            raise _error("num_loops", "the chirps of one frame last longer than the frame period")
        for plane in self.reflector_planes:
            if len(plane) != 4 or not math.isclose(float(np.linalg.norm(plane[:3])), 1.0, abs_tol=1e-6):
                raise _error("reflector_planes", f"each plane is (nx, ny, nz, d) with a unit normal, got {plane!r}")
        for part, spec in self.body_parts.items():
            if (
                not isinstance(spec, Mapping)
                or not isinstance(spec.get("reflectivity"), (int, float))
                or not spec["reflectivity"] >= 0
                or not set(spec.get("joints", ())) <= set(SMPL_JOINT_NAMES)
            ):
                raise _error(f"body_parts.{part}", "needs reflectivity >= 0 and a list of SMPL joint names")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RadarConfig:
        """Build a config from a plain or hydra mapping; absent keys keep defaults.

        Raises:
            DataError: an unknown key or an out-of-range value (field = key).
        """
        if OmegaConf.is_config(values):
            values = OmegaConf.to_container(values, resolve=True)  # type: ignore[assignment]
        kinds = {f.name: f.type for f in dataclasses.fields(cls)}  # annotations as strings
        unknown = sorted(set(values) - set(kinds))
        if unknown:
            raise _error(unknown[0], f"unknown radar config key(s) {unknown}")
        kwargs = {name: _coerce(name, kinds[name], value) for name, value in values.items()}
        return cls(**kwargs)

    # Derived quantities -------------------------------------------------

    @property
    def bandwidth_hz(self) -> float:
        """Swept bandwidth during ADC sampling (Hz)."""
        return self.slope_mhz_per_us * 1e12 * self.adc_samples / (self.sample_rate_msps * 1e6)

    @property
    def wavelength_m(self) -> float:
        """Wavelength at the centre of the sweep (m)."""
        return SPEED_OF_LIGHT / (self.start_frequency_ghz * 1e9 + self.bandwidth_hz / 2)

    @property
    def range_resolution_m(self) -> float:
        """Range bin size c / (2 B) (m)."""
        return SPEED_OF_LIGHT / (2.0 * self.bandwidth_hz)

    @property
    def max_range_m(self) -> float:
        """Range span of the range FFT with complex sampling (m)."""
        return self.adc_samples * self.range_resolution_m

    @property
    def loop_time_s(self) -> float:
        """Time between two chirps of the same transmitter (s)."""
        return self.num_tx * (self.idle_time_us + self.ramp_end_time_us) * 1e-6

    @property
    def max_velocity_mps(self) -> float:
        """Unambiguous radial velocity lambda / (4 loop time) (m/s)."""
        return self.wavelength_m / (4.0 * self.loop_time_s)

    @property
    def doppler_resolution_mps(self) -> float:
        """Doppler bin size 2 v_max / num_loops (m/s)."""
        return 2.0 * self.max_velocity_mps / self.num_loops

    @property
    def azimuth_resolution_rad(self) -> float:
        """Rayleigh resolution in sin(azimuth), ~ radians near boresight."""
        return 2.0 / self.azimuth_elements

    @property
    def elevation_resolution_rad(self) -> float:
        """Rayleigh resolution in sin(elevation), ~ radians near boresight."""
        return 2.0 / self.elevation_elements

    def reflectivity_of_links(self, num_links: int) -> np.ndarray:
        """Reflectivity of a tracked body's links, indexed by ``link + 1``.

        Args:
            num_links: number of non-base links to cover.

        Returns:
            [num_links + 1] float64; entry 0 is the base (link -1).
        """
        by_joint = np.full(NUM_SMPL_JOINTS, self.default_reflectivity)
        for spec in self.body_parts.values():
            for name in spec["joints"]:
                by_joint[SMPL_JOINT_NAMES.index(name)] = float(spec["reflectivity"])
        joints = np.arange(-1, num_links) + self.link_joint_offset
        inside = (joints >= 0) & (joints < NUM_SMPL_JOINTS)
        return np.where(inside, by_joint[np.clip(joints, 0, NUM_SMPL_JOINTS - 1)], self.default_reflectivity)
