"""FaceWorld's procedural face renderer.

A face is a stack of soft-edged shapes (ellipses, bands, arcs) drawn with signed distances on
the pixel grid, so any resolution renders crisply and a whole batch is drawn at once with
NumPy.  Everything that is not an attribute — background, clothing, colour shades, lighting,
head jitter, sensor noise — is drawn from the image's own seed, so the same attributes and the
same seed always give the same pixels, whatever else is in the batch.

Two visual domains:

* ``studio`` — plain gradient background, even light, a centred head, no degradation: the
  domain the miniature text-to-image model is trained on (the "synthetic" look);
* ``photo`` — cluttered background, directional light and colour cast, alignment jitter, blur,
  sensor noise and JPEG compression: the domain that plays the real datasets.

Rendered attributes (CelebA names): Male, Young (with a numeric age), Smiling, Wavy_Hair,
Straight_Hair, Heavy_Makeup, Wearing_Lipstick, Eyeglasses, Wearing_Hat, Bangs, Black_Hair,
Blond_Hair, Brown_Hair, Gray_Hair, Bald, Receding_Hairline, No_Beard, Goatee, Mustache,
Sideburns, 5_o_Clock_Shadow, Pale_Skin (and a skin tone per race), Mouth_Slightly_Open,
High_Cheekbones, Rosy_Cheeks, Arched_Eyebrows, Bushy_Eyebrows, Narrow_Eyes, Bags_Under_Eyes,
Big_Nose, Pointy_Nose, Big_Lips, Chubby, Double_Chin, Oval_Face, Wearing_Earrings,
Wearing_Necklace, Wearing_Necktie, Blurry; plus head yaw and tilt.  ``Attractive`` is a label
with no visual counterpart.  Small details (earrings, bags under the eyes) fade at low
resolution, as they would in a thumbnail.
"""

from __future__ import annotations

import io

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from PIL import Image

from fairlab.faceworld.sampler import STATS_DIR

DOMAINS = ("photo", "studio")
RENDERED = (
    "Male", "Young", "Smiling", "Wavy_Hair", "Straight_Hair", "Heavy_Makeup", "Wearing_Lipstick", "Eyeglasses",
    "Wearing_Hat", "Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Bald", "Receding_Hairline",
    "No_Beard", "Goatee", "Mustache", "Sideburns", "5_o_Clock_Shadow", "Pale_Skin", "Mouth_Slightly_Open",
    "High_Cheekbones", "Rosy_Cheeks", "Arched_Eyebrows", "Bushy_Eyebrows", "Narrow_Eyes", "Bags_Under_Eyes",
    "Big_Nose", "Pointy_Nose", "Big_Lips", "Chubby", "Double_Chin", "Oval_Face", "Wearing_Earrings",
    "Wearing_Necklace", "Wearing_Necktie", "Blurry",
)

# Skin tones (RGB 0–1): pale, light, light-warm (East Asian), medium, tan (South Asian), brown, dark.
SKIN_TONES = np.array([
    [0.96, 0.86, 0.80], [0.93, 0.78, 0.68], [0.92, 0.79, 0.62], [0.80, 0.62, 0.46],
    [0.70, 0.51, 0.36], [0.52, 0.36, 0.24], [0.36, 0.24, 0.16],
])
#: Skin-tone probabilities for the UTKFace races (White, Black, Asian, Indian, Others).
RACE_TONES = np.array([
    [0.30, 0.60, 0.00, 0.10, 0.00, 0.00, 0.00],
    [0.00, 0.00, 0.00, 0.00, 0.15, 0.45, 0.40],
    [0.05, 0.20, 0.70, 0.05, 0.00, 0.00, 0.00],
    [0.00, 0.00, 0.00, 0.30, 0.55, 0.15, 0.00],
    [0.00, 0.20, 0.20, 0.35, 0.20, 0.05, 0.00],
])
HAIR_COLOURS = {  # RGB 0–1
    "black": (0.10, 0.08, 0.08), "brown": (0.40, 0.24, 0.13), "blond": (0.86, 0.74, 0.46),
    "gray": (0.72, 0.72, 0.72), "auburn": (0.55, 0.2, 0.1), "chestnut": (0.3, 0.12, 0.1),
}
_N_UNIFORMS = 64


@cache
def women_grey_rarer() -> float:
    """How many times less often CelebA's not-Young women have grey hair than its not-Young men (they colour it).

    P(Gray_Hair | man) / P(Gray_Hair | woman), 8.0 over all of CelebA, divided by the same ratio for not Young,
    2.9: if greying followed age alone, women would be grey 2.9x less often than men, not 8x.
    """
    pairs = pd.read_csv(STATS_DIR / "celeba_pairwise.csv").set_index(["attr_a", "attr_b"])
    grey, age = pairs.loc[("Gray_Hair", "Male")], pairs.loc[("Male", "Young")]
    # Gray_Hair,Male: n10 grey women, n11 grey men; Male,Young: n00 not-Young women, n10 not-Young men
    grey_ratio = (grey.all_n11 / (grey.all_n01 + grey.all_n11)) / (grey.all_n10 / (grey.all_n00 + grey.all_n10))
    old_ratio = (age.all_n10 / (age.all_n10 + age.all_n11)) / (age.all_n00 / (age.all_n00 + age.all_n01))
    return float(grey_ratio / old_ratio)


def hair_colour_name(frame: pd.DataFrame, u: np.ndarray) -> np.ndarray:
    """The drawn hair colour: Gray_Hair, else Blond_Hair, else Brown_Hair, else Black_Hair, else by chance."""
    # a face with none of CelebA's four hair-colour labels gets a colour that none of them names
    other = np.where(u < 0.5, "auburn", "chestnut")
    name = np.where(frame["Black_Hair"] == 1, "black", other)
    name = np.where(frame["Brown_Hair"] == 1, "brown", name)
    name = np.where(frame["Blond_Hair"] == 1, "blond", name)
    return np.where(frame["Gray_Hair"] == 1, "gray", name)


def scene_uniforms(seeds: np.ndarray) -> np.ndarray:
    """Per-image uniforms from each image's own seed: the source of every nuisance parameter."""
    return np.stack([np.random.default_rng(int(s)).random(_N_UNIFORMS) for s in seeds])


class _Canvas:
    """Pixel-centre coordinates shared by a batch; x spans [-1, 1], y spans [-H/W, H/W] (down)."""

    def __init__(self, height: int, width: int):
        self.h, self.w = height, width
        xs = (np.arange(width) + 0.5) / width * 2 - 1
        ys = ((np.arange(height) + 0.5) / height * 2 - 1) * height / width
        self.x = xs[None, None, :].astype(np.float32)
        self.y = ys[None, :, None].astype(np.float32)
        self.px = 2.0 / width  # one pixel in canvas units


def _col(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)[:, None, None]


def _soft(distance: np.ndarray, px: np.ndarray) -> np.ndarray:
    """Coverage from a signed distance (negative inside), anti-aliased over about one pixel."""
    return np.clip(0.5 - distance / px, 0.0, 1.0)


def _ellipse_distance(x, y, cx, cy, a, b):
    q = np.sqrt(((x - cx) / a) ** 2 + ((y - cy) / b) ** 2)
    return (q - 1.0) * np.minimum(a, b)


def _blend(image: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """``image = (1 − α) image + α colour`` in place; colour is ``[N, 3]`` or ``[N, H, W, 3]``."""
    if colour.ndim == 2:
        colour = colour[:, None, None, :]
    image += alpha[..., None] * (colour - image)


#: scenes per rendering chunk; every scene draws from its own seed, so chunking never changes an image
CHUNK = 256
#: below this many scenes a render stays in the calling process (starting workers costs seconds)
POOL_THRESHOLD = 2048


def render(scenes: pd.DataFrame, height: int, width: int | None = None, domain: str = "photo",
           workers: int | None = None) -> np.ndarray:
    """Render one image per row of ``scenes``; returns ``uint8 [N, H, W, 3]``.

    ``scenes`` holds the CelebA attributes (0/1), ``age``, ``tone`` (index into
    :data:`SKIN_TONES`), ``yaw`` (−1 … 1, positive = turned to the image's right), ``tilt``
    (degrees, positive = clockwise) and ``seed``.

    Large renders go through a process pool of ``workers`` (default :func:`default_workers`);
    the images are the same either way.
    """
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; expected one of {DOMAINS}")
    width = width or height
    out = np.empty((len(scenes), height, width, 3), dtype=np.uint8)
    starts = range(0, len(scenes), CHUNK)
    workers = default_workers() if workers is None else workers
    if workers > 1 and len(scenes) >= POOL_THRESHOLD:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        jobs = [(scenes.iloc[s:s + CHUNK], height, width, domain) for s in starts]
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for start, images in zip(starts, pool.map(_render_job, jobs)):
                out[start:start + len(images)] = images
        return out
    for start in starts:
        part = scenes.iloc[start:start + CHUNK]
        out[start:start + len(part)] = _render_chunk(part, height, width, domain)
    return out


def changed_pixels(scenes: pd.DataFrame, attribute: str, height: int, width: int | None = None,
                   domain: str = "photo", tolerance: int = 8) -> np.ndarray:
    """Per scene, the attribute's footprint: how many pixels change when only ``attribute`` is toggled from 0 to 1,
    every other attribute and the image's seed fixed. A pixel counts when a channel moves by more than
    ``tolerance`` of 255 (above the JPEG noise of the photo domain)."""
    if attribute not in RENDERED:
        raise ValueError(f"unknown attribute {attribute!r}; expected one of the rendered attributes {RENDERED}")
    off = render(scenes.assign(**{attribute: 0}), height, width, domain, workers=1).astype(np.int16)
    on = render(scenes.assign(**{attribute: 1}), height, width, domain, workers=1).astype(np.int16)
    return (np.abs(on - off).max(axis=-1) > tolerance).sum(axis=(1, 2))


def default_workers() -> int:
    """Rendering processes: this process's thread share in a parallel build (``$FAIRLAB_THREADS``), else every core;
    one (render in this process) inside a daemonic process such as a Dask worker, which may not start children."""
    import multiprocessing
    import os

    if multiprocessing.current_process().daemon:
        return 1
    return int(os.environ.get("FAIRLAB_THREADS") or os.cpu_count() or 1)


def _render_job(job) -> np.ndarray:
    scenes, height, width, domain = job
    return _render_chunk(scenes, height, width, domain)


#: what each of a scene's uniforms (:func:`scene_uniforms`, fixed by its seed) draws: a column, or a range of columns
DRAW_COLUMNS = {
    "background": (0, 3), "head_x": 3, "head_y": 4, "head_scale": 5, "head_roll": 6, "skin_shade": (7, 8),
    "hair_colour": 8, "hair_shade": (9, 10), "shirt": (10, 13), "long_hair": 14, "wave_phase": 15,
    "curl_phase": 16, "streak_phase": 17, "iris": (18, 21), "hat": (21, 24), "tinted_glasses": 24,
    "light_angle": 25, "light_strength": (26, 27), "colour_cast": (27, 30), "blur": 30, "noise": 31,
    "jpeg_quality": 32,
}


class _Draws:
    """A batch's uniforms by name: ``draw.hat`` is the three hat-colour columns of every scene."""

    def __init__(self, uniforms: np.ndarray):
        self._uniforms = uniforms

    def __getattr__(self, name: str) -> np.ndarray:
        if name not in DRAW_COLUMNS:
            raise AttributeError(f"no draw {name!r}; the draws are {', '.join(DRAW_COLUMNS)}")
        spec = DRAW_COLUMNS[name]
        return self._uniforms[:, spec[0]:spec[1]] if isinstance(spec, tuple) else self._uniforms[:, spec]


@dataclass
class _Scene:
    """What every drawing step reads: the batch's attributes and draws, the head's frame (face-local
    coordinates ``x``, ``y``, turned by ``yaw``), the face's size and the palette."""

    n: int
    a: dict
    male: np.ndarray
    child: np.ndarray
    age: np.ndarray
    studio: bool
    draw: _Draws
    cv: _Canvas
    px: np.float32
    height: int
    width: int
    scenes: pd.DataFrame
    x: np.ndarray
    y: np.ndarray
    lpx: np.ndarray
    yaw: np.ndarray
    squeeze: np.ndarray
    shift: np.ndarray
    face_a: np.ndarray
    face_b: np.ndarray
    face_cx: np.ndarray
    skin: np.ndarray
    hair: np.ndarray
    shirt: np.ndarray
    dark: np.ndarray

    def fx(self, x0):
        """Where a feature at nominal x0 lands after the yaw."""
        return x0 * self.squeeze + self.shift


def _render_chunk(scenes: pd.DataFrame, height: int, width: int, domain: str) -> np.ndarray:
    """Draw a chunk of scenes, back to front: background, hair behind the head, body, ears, face, its
    features, hair in front, glasses, then light and camera."""
    s = _scene(scenes, height, width, domain)
    image = _background(s)
    hair_img, wave = _hair_behind(image, s)
    _body(image, s)
    _ears(image, s)
    jaw, face_alpha = _face(image, s)
    _age_lines(image, s, face_alpha)
    _cheeks(image, s)
    _facial_hair(image, s, jaw)
    _eyes(image, s)
    _nose_and_mouth(image, s)
    _hair_in_front(image, s, hair_img, wave)
    _glasses(image, s)
    return _camera(image, s)


def _scene(scenes: pd.DataFrame, height: int, width: int, domain: str) -> _Scene:
    """The batch's attributes and draws, the head's placement (face-local coordinates), its size and the palette."""
    n = len(scenes)
    cv = _Canvas(height, width)
    px = np.float32(cv.px)
    draw = _Draws(scene_uniforms(scenes["seed"].to_numpy()))
    a = {k: scenes[k].to_numpy().astype(bool) for k in RENDERED if k in scenes}
    age = scenes["age"].to_numpy().astype(np.float32)
    child = age < 13
    male = a["Male"] & ~child
    studio = domain == "studio"

    # head placement
    jitter = 0.0 if studio else 1.0
    hx = _col(jitter * (draw.head_x - 0.5) * 0.16)
    hy = _col(0.02 + jitter * (draw.head_y - 0.5) * 0.14)
    # the face fills about half the image width, as in CelebA's aligned crops
    scale = _col(1.3 * (0.96 if not studio else 1.0) * (1 + jitter * (draw.head_scale - 0.5) * 0.2) * np.where(child, 0.85, 1.0))
    roll = np.deg2rad(scenes["tilt"].to_numpy() + jitter * (draw.head_roll - 0.5) * 8)
    cos, sin = _col(np.cos(roll)), _col(np.sin(roll))
    x = ((cv.x - hx) * cos + (cv.y - hy) * sin) / scale
    y = (-(cv.x - hx) * sin + (cv.y - hy) * cos) / scale
    lpx = px / scale  # a pixel in face-local units
    yaw = _col(np.clip(scenes["yaw"].to_numpy(), -1, 1))
    squeeze = 1 - 0.35 * np.abs(yaw)
    shift = 0.22 * yaw

    # palette
    tone = SKIN_TONES[scenes["tone"].to_numpy().astype(int)] * (0.94 + 0.12 * draw.skin_shade)
    # men's skin is darker and redder than women's of the same population (Frost 1988; Jablonski & Chaplin 2000),
    # which is also why women's lips and eyes stand out more against their skin (facial contrast, Russell 2009)
    tone = tone * np.where(male[:, None], np.float32([0.95, 0.91, 0.90]), np.float32(1.0))
    skin = np.clip(tone, 0, 1).astype(np.float32)
    hair_name = hair_colour_name(scenes, draw.hair_colour)
    hair = np.array([HAIR_COLOURS[h] for h in hair_name], dtype=np.float32) * (0.9 + 0.2 * draw.hair_shade)
    # hair greys from the forties on (salt and pepper); CelebA's Gray_Hair labels only hair that is grey outright.
    # Women's greys less, by the ratio CelebA's labels give beyond their ages (women_grey_rarer, about 2.75)
    greying = 0.5 * np.clip((age - 40) / 35, 0, 1) * np.where(a["Male"], 1.0, 1 / women_grey_rarer())
    greying = greying[:, None].astype(np.float32)
    hair = np.clip(hair * (1 - greying) + np.float32(HAIR_COLOURS["gray"]) * greying, 0, 1)
    shirt = (0.15 + 0.7 * draw.shirt).astype(np.float32)
    dark = np.clip(hair * 0.55, 0, 1)

    # the face's half-width and half-height
    face_a = _col(0.40 * np.where(male, 1.07, 1.0) * np.where(a["Chubby"], 1.13, 1.0) * np.where(a["Oval_Face"], 0.94, 1.0)
                  * np.where(child, 1.04, 1.0)) * (1 - 0.12 * np.abs(yaw))
    face_b = _col(0.52 * np.where(a["Oval_Face"], 1.08, 1.0) * np.where(child, 0.92, 1.0) * np.where(male, 1.04, 1.0))
    face_cx = 0.05 * yaw
    return _Scene(n, a, male, child, age, studio, draw, cv, px, height, width, scenes, x, y, lpx, yaw, squeeze, shift,
                  face_a, face_b, face_cx, skin, hair, shirt, dark)


def _background(s: _Scene) -> np.ndarray:
    """A vertical gradient; in the photo domain, clutter (rectangles and discs) behind the person."""
    n, studio, draw, cv, px, height, width, scenes = s.n, s.studio, s.draw, s.cv, s.px, s.height, s.width, s.scenes
    image = np.empty((n, height, width, 3), dtype=np.float32)
    base = 0.35 + 0.55 * draw.background
    top = np.clip(base + 0.15, 0, 1)
    t = (cv.y - cv.y.min()) / (cv.y.max() - cv.y.min())
    image[:] = (top[:, None, None, :] * (1 - t[..., None]) + base[:, None, None, :] * t[..., None])
    if not studio:  # clutter: random rectangles and discs behind the person
        rng_clutter = [np.random.default_rng(int(seed) + 7919) for seed in scenes["seed"]]
        shapes = np.stack([r.random((6, 8)) for r in rng_clutter]).astype(np.float32)  # [N, 6, 8]
        for j in range(6):
            p = shapes[:, j]
            cx, cy = _col(p[:, 0] * 2 - 1), _col((p[:, 1] * 2 - 1) * height / width)
            sx, sy = _col(0.1 + 0.5 * p[:, 2]), _col(0.1 + 0.5 * p[:, 3])
            disc = p[:, 4] < 0.5
            d_rect = np.maximum(np.abs(cv.x - cx) - sx, np.abs(cv.y - cy) - sy)
            d = np.where(_col(disc) > 0, _ellipse_distance(cv.x, cv.y, cx, cy, sx, sy), d_rect)
            _blend(image, _soft(d, px) * 0.85, p[:, 5:8])
    return image


def _hair_extent(s: _Scene) -> tuple[np.ndarray, np.ndarray]:
    """The half-width and half-height of the hair around the head: men's and boys' cropped close, others' fuller."""
    cropped = _col(s.a["Male"])
    return s.face_a + 0.12 - 0.05 * cropped, s.face_b + 0.06 - 0.03 * cropped


def _hair_behind(image: np.ndarray, s: _Scene) -> tuple[np.ndarray, np.ndarray]:
    """The hair behind the head (long hair drapes to the shoulders), with curls or streaks; returns the hair's
    texture and its wave, which the hair in front reuses."""
    a, male, draw, x, y, lpx = s.a, s.male, s.draw, s.x, s.y, s.lpx
    face_a, face_b, face_cx, hair = s.face_a, s.face_b, s.face_cx, s.hair
    # hair is gendered from childhood (the face's dimorphism, ``male``, only from adolescence): most women's and
    # girls' hair falls to the shoulders, and short hair on them is mostly a bob to the jaw; men's and boys' hair
    # is mostly cropped close to the head, above the ears
    boy_or_man = a["Male"]
    long_hair = ((~boy_or_man) & (draw.long_hair < 0.85)) | (boy_or_man & (draw.long_hair < 0.06))
    long_hair &= ~a["Bald"]
    draped = ~a["Bald"] & (long_hair | ~boy_or_man)  # long hair, or a woman's bob
    hair_a, hair_b = _hair_extent(s)

    theta = np.arctan2(y + 0.1, x)
    wave = np.where(_col(a["Wavy_Hair"]) > 0, 0.07 * np.sin(9 * theta + _col(draw.wave_phase) * 6.28), 0.0)
    back = _ellipse_distance(x, y, face_cx, -0.12, hair_a, hair_b) - wave * 0.5
    if draped.any():
        hem = _col(np.where(long_hair, 0.78, 0.3))
        drape = np.maximum(np.abs(x - face_cx) - (face_a + 0.13 + wave * 0.6), np.maximum(-0.1 - y, y - hem))
        back = np.where(_col(draped) > 0, np.minimum(back, drape), back)
    hair_alpha = _soft(back, lpx) * _col(~a["Bald"])
    hair_img = np.broadcast_to(hair[:, None, None, :], image.shape).copy()
    if a["Wavy_Hair"].any():  # curls: dark wavy stripes through the hair
        stripes = 0.5 + 0.5 * np.sin(26 * (y + 0.05 * np.sin(14 * x + _col(draw.curl_phase) * 6.28)))
        hair_img *= (1 - 0.32 * (stripes * _col(a["Wavy_Hair"]))[..., None])
    if a["Straight_Hair"].any():
        streaks = 0.5 + 0.5 * np.sin(40 * x + _col(draw.streak_phase) * 6.28)
        hair_img *= (1 - 0.12 * (streaks * _col(a["Straight_Hair"] & ~a["Wavy_Hair"]))[..., None])
    _blend(image, hair_alpha, hair_img)
    return hair_img, wave


def _body(image: np.ndarray, s: _Scene) -> None:
    """Shoulders and shirt, a necktie, the neck and a necklace."""
    n, a, male, x, y, lpx, face_cx, skin, shirt = s.n, s.a, s.male, s.x, s.y, s.lpx, s.face_cx, s.skin, s.shirt
    d_shoulders = _ellipse_distance(x, y, 0.0, 1.12, 0.95, 0.5)
    _blend(image, _soft(d_shoulders, lpx), shirt)
    if a["Wearing_Necktie"].any():
        tie = np.where(y > 0.64, np.abs(x) - (0.04 + 0.08 * np.clip(y - 0.64, 0, 1)), 1.0)
        _blend(image, _soft(tie, lpx) * _col(a["Wearing_Necktie"]), np.tile([[0.55, 0.05, 0.08]], (n, 1)).astype(np.float32))
    neck = np.maximum(np.abs(x - 0.5 * face_cx) - 0.17 * _col(np.where(male, 1.15, 1.0)), np.maximum(0.42 - y, y - 0.75))
    _blend(image, _soft(neck, lpx), skin * 0.88)
    if a["Wearing_Necklace"].any():
        ring = np.abs(_ellipse_distance(x, y, 0.5 * face_cx, 0.5, 0.2, 0.16)) - 0.014
        _blend(image, _soft(ring, lpx) * (y > 0.5) * _col(a["Wearing_Necklace"]), np.tile([[0.95, 0.85, 0.35]], (n, 1)).astype(np.float32))


def _ears(image: np.ndarray, s: _Scene) -> None:
    """Both ears, with earrings."""
    n, a, x, y, lpx, yaw, face_a, face_cx, skin = s.n, s.a, s.x, s.y, s.lpx, s.yaw, s.face_a, s.face_cx, s.skin
    for side in (-1, 1):
        ex = face_cx + side * face_a * (1 - 0.1 * side * yaw)
        _blend(image, _soft(_ellipse_distance(x, y, ex, -0.02, 0.06, 0.1), lpx), skin * 0.9)
        if a["Wearing_Earrings"].any():
            ring = _ellipse_distance(x, y, ex, 0.1, 0.03, 0.03)
            _blend(image, _soft(ring, lpx) * _col(a["Wearing_Earrings"]), np.tile([[0.98, 0.84, 0.2]], (n, 1)).astype(np.float32))


def _face(image: np.ndarray, s: _Scene) -> tuple[np.ndarray, np.ndarray]:
    """The face (a squarer jaw for men), a double chin, and shading that follows the yaw; returns the jaw's distance and the face's coverage."""
    a, male, x, y, lpx = s.a, s.male, s.x, s.y, s.lpx
    yaw, face_a, face_b, face_cx, skin = s.yaw, s.face_a, s.face_b, s.face_cx, s.skin
    d_face = _ellipse_distance(x, y, face_cx, 0.0, face_a, face_b)
    square_jaw = np.where(y > 0.25, np.maximum(d_face, np.abs(x - face_cx) - face_a * 0.93), d_face)
    # a woman's face narrows to a smaller, pointed chin
    taper = 1 - 0.14 * np.clip((y - 0.12) / 0.4, 0, 1)
    tapered = _ellipse_distance(x, y, face_cx, 0.0, face_a * taper, face_b)
    jaw = np.where(_col(male) > 0, square_jaw, tapered)
    face_alpha = _soft(jaw, lpx)
    _blend(image, face_alpha, skin)
    if a["Double_Chin"].any():
        chin = np.abs(_ellipse_distance(x, y, face_cx, face_b * 0.93, 0.16, 0.07)) - 0.012
        _blend(image, _soft(chin, lpx) * (y > face_b * 0.93) * _col(a["Double_Chin"]), skin * 0.7)
    # shading that follows the yaw: the far side of the face is darker
    shade = np.clip((x - face_cx) * -yaw * 1.2, 0, 0.35) * face_alpha
    image *= (1 - shade[..., None])
    return jaw, face_alpha


def _ageing(age: np.ndarray) -> np.ndarray:
    """How old a face looks, 0 … 1: nothing before 30, full at 55. CelebA's Young is the labellers' reading of a
    face, not its age, and a face in its forties reads as middle-aged (the sampler draws Young below 40)."""
    return np.clip((age - 30) / 25, 0, 1)


def _age_lines(image: np.ndarray, s: _Scene, face_alpha: np.ndarray) -> None:
    """Age: lines deepen from 30 to 55 (forehead, beside the nose, at the eye corners) and the skin dulls."""
    n, x, y, lpx, face_cx, skin, fx = s.n, s.x, s.y, s.lpx, s.face_cx, s.skin, s.fx
    old = _ageing(s.age)
    if (old > 0).any():
        lines = np.zeros_like(x)
        for k in range(3):
            lines = np.maximum(lines, _soft(np.abs(y + 0.3 + 0.06 * k) - 0.014, lpx) * (np.abs(x - face_cx) < 0.25))
        for side in (-1, 1):
            fold = np.abs((x - fx(side * 0.12)) - side * 0.35 * (y - 0.1)) - 0.016
            lines = np.maximum(lines, _soft(fold, lpx) * (y > 0.05) * (y < 0.32))
            crow = np.abs(y + 0.05 + 0.4 * (x - fx(side * 0.29))) - 0.012  # crow's feet at the outer eye corners
            lines = np.maximum(lines, _soft(crow, lpx) * (np.abs(x - fx(side * 0.3)) < 0.06))
        _blend(image, lines * face_alpha * _col(0.9 * old), skin * 0.45)
        _blend(image, face_alpha * _col(0.3 * old), np.tile([[0.55, 0.5, 0.48]], (n, 1)).astype(np.float32))


def _cheeks(image: np.ndarray, s: _Scene) -> None:
    """Rosy or made-up cheeks, high cheekbones, and a smile's raised cheeks with the folds from nose to mouth."""
    n, a, x, y, lpx, skin, fx = s.n, s.a, s.x, s.y, s.lpx, s.skin, s.fx
    smiling = _col(a["Smiling"])
    for side in (-1, 1):
        # a smile lifts and rounds the cheeks: a lit "apple" under each eye
        if a["Smiling"].any():
            apple = _ellipse_distance(x, y, fx(side * 0.2), 0.07, 0.11, 0.08)
            _blend(image, _soft(apple, lpx * 2) * smiling * 0.55, np.clip(skin * 1.22 + 0.04, 0, 1))
        cheek = _ellipse_distance(x, y, fx(side * 0.22), 0.13, 0.09, 0.065)
        if a["Rosy_Cheeks"].any() or a["Heavy_Makeup"].any():
            blush = _col(np.maximum(0.55 * a["Rosy_Cheeks"], 0.35 * a["Heavy_Makeup"]))
            _blend(image, _soft(cheek, lpx * 3) * blush, np.tile([[0.9, 0.45, 0.5]], (n, 1)).astype(np.float32))
        if a["High_Cheekbones"].any():
            bone = _ellipse_distance(x, y, fx(side * 0.23), 0.06, 0.1, 0.035)
            _blend(image, _soft(bone, lpx * 2) * _col(0.4 * a["High_Cheekbones"]), np.clip(skin * 1.25, 0, 1))
        if a["Smiling"].any():
            # the nasolabial fold: from beside the nose wing down and out to the lifted mouth corner
            fold = np.abs((x - fx(side * 0.1)) - side * 0.75 * (y - 0.1)) - 0.022
            fold = np.maximum(fold, np.maximum(0.1 - y, y - 0.25))
            _blend(image, _soft(fold, lpx) * smiling * 0.8, skin * 0.55)


def _facial_hair(image: np.ndarray, s: _Scene, jaw: np.ndarray) -> None:
    """Stubble, beard, goatee and sideburns, below a line from the ears to just under the nose."""
    a, male, x, y, lpx, squeeze = s.a, s.male, s.x, s.y, s.lpx, s.squeeze
    face_a, face_b, face_cx, skin, dark, fx = s.face_a, s.face_b, s.face_cx, s.skin, s.dark, s.fx
    # beard and stubble: below a line that runs from the ears down to just under the nose
    beard_line = 0.2 - 0.3 * np.abs(x - face_cx)
    beard_zone = np.maximum(jaw, beard_line - y)
    mouth_gap = -_ellipse_distance(x, y, fx(0.0), 0.27, 0.12 * squeeze, 0.055)
    # a man's beard shows through shaven skin (the beard shadow): his lower face is darker and bluer than his
    # cheeks, a woman's is not (part of the facial contrast that tells men from women, Russell 2009)
    if male.any():
        _blend(image, _soft(beard_zone, lpx) * _col(0.75 * male), skin * np.float32([0.62, 0.62, 0.72]))
    if a["5_o_Clock_Shadow"].any():
        _blend(image, _soft(beard_zone, lpx) * _col(0.4 * (a["5_o_Clock_Shadow"] & male)), dark * 0.8 + 0.1)
    beard = male & ~a["No_Beard"]
    if beard.any():
        _blend(image, _soft(np.maximum(beard_zone, mouth_gap), lpx) * _col(beard), dark)
    if a["Goatee"].any():
        goat = _ellipse_distance(x, y, fx(0.0), face_b * 0.82, 0.09, 0.11)
        _blend(image, _soft(goat, lpx) * _col(a["Goatee"] & male), dark)
    if a["Sideburns"].any():
        for side in (-1, 1):
            burn = np.maximum(np.abs(x - (face_cx + side * (face_a - 0.04))) - 0.035, np.abs(y - 0.05) - 0.17)
            _blend(image, _soft(burn, lpx) * _col(a["Sideburns"] & male), dark)


def _eyes(image: np.ndarray, s: _Scene) -> None:
    """Eye shadow, bags, the eyes (narrow or not) with their irises, and the eyebrows (bushy, arched)."""
    n, a, male, child, draw, x, y = s.n, s.a, s.male, s.child, s.draw, s.x, s.y
    lpx, yaw, squeeze, skin, dark, fx = s.lpx, s.yaw, s.squeeze, s.skin, s.dark, s.fx
    # eyes
    # a smile raises the lower lids: the eyes narrow and crease (the Duchenne smile)
    eye_b = _col(np.where(a["Narrow_Eyes"], 0.028, 0.046) * np.where(child, 1.25, 1.0) * np.where(a["Smiling"], 0.6, 1.0))
    smiling = _col(a["Smiling"])
    for side in (-1, 1):
        ex = fx(side * 0.165)
        if a["Heavy_Makeup"].any():
            lid = _ellipse_distance(x, y, ex, -0.075, 0.1, 0.055)
            _blend(image, _soft(lid, lpx) * _col(0.75 * a["Heavy_Makeup"]), np.tile([[0.45, 0.25, 0.55]], (n, 1)).astype(np.float32))
        if a["Bags_Under_Eyes"].any():
            bag = np.abs(_ellipse_distance(x, y, ex, -0.01, 0.085, 0.06)) - 0.008
            _blend(image, _soft(bag, lpx) * (y > -0.01) * _col(0.6 * a["Bags_Under_Eyes"]), skin * 0.6)
        # women's eyes look larger and darker-lashed than men's, one of the bare face's gender cues (with the brows, the
        # nose, the lips and the beard shadow): without them grey hair, mostly a man's in CelebA, outweighed gender
        white = _ellipse_distance(x, y, ex, -0.05, 0.085 * squeeze * _col(np.where(male, 1.0, 1.12)), eye_b * _col(np.where(male, 0.9, 1.15)))
        _blend(image, _soft(white, lpx), np.tile([[0.97, 0.97, 0.97]], (n, 1)).astype(np.float32))
        lash = np.maximum(np.abs(white + 0.004) - 0.012, y - (-0.05))
        _blend(image, _soft(lash, lpx) * _col(0.85 * ~male), np.tile([[0.08, 0.06, 0.06]], (n, 1)).astype(np.float32))
        iris = _ellipse_distance(x, y, ex + 0.02 * yaw, -0.05, 0.034, np.minimum(0.034, eye_b))
        _blend(image, _soft(iris, lpx), (0.1 + 0.3 * draw.iris).astype(np.float32))
        # eyebrows
        # men's brows are thicker and sit lower, closer to the eyes
        thick = _col(np.where(a["Bushy_Eyebrows"], 0.028, 0.014) * np.where(male, 2.0, 1.0))
        arch = _col(np.where(a["Arched_Eyebrows"], 0.06, 0.015))
        low = _col(np.where(male, 0.018, 0.0))
        dx = (x - ex) / 0.1
        brow = np.maximum(np.abs(y - (-0.14 + low - arch * (1 - dx**2))) - thick, np.abs(x - ex) - 0.1)
        _blend(image, _soft(brow, lpx), dark * 0.9)
        if a["Smiling"].any():  # the lifted lower lid, a crease arcing up under the narrowed eye
            crease = np.abs(y - (0.0 - 0.05 * (1 - ((x - ex) / 0.11) ** 2))) - 0.014
            crease = np.maximum(crease, np.abs(x - ex) - 0.1)
            _blend(image, _soft(crease, lpx) * smiling * 0.8, skin * 0.6)


def _nose_and_mouth(image: np.ndarray, s: _Scene) -> None:
    """The nose (big, pointy), a mustache, and the mouth: a wide open smile with upturned corners, or closed lips, slightly open or not."""
    n, a, male, x, y, lpx = s.n, s.a, s.male, s.x, s.y, s.lpx
    yaw, squeeze, skin, dark, fx = s.yaw, s.squeeze, s.skin, s.dark, s.fx
    # nose: broader on men
    nose_a = _col(np.where(a["Big_Nose"], 0.065, 0.045) * np.where(a["Pointy_Nose"], 0.75, 1.0) * np.where(male, 1.25, 0.9))
    nose_b = _col(np.where(a["Pointy_Nose"], 0.13, 0.1))
    nose = _ellipse_distance(x, y, fx(0.0) + 0.03 * yaw, 0.06, nose_a, nose_b)
    _blend(image, _soft(nose, lpx * 2) * 0.35, skin * 0.6)

    # mustache sits above the mouth
    if a["Mustache"].any():
        stache = _ellipse_distance(x, y, fx(0.0), 0.2, 0.13, 0.032)
        _blend(image, _soft(stache, lpx) * _col(a["Mustache"] & male), dark)

    # mouth
    painted = (a["Wearing_Lipstick"] | a["Heavy_Makeup"])[:, None]
    bare_lip = np.where(male[:, None], np.float32([0.8, 0.55, 0.55]), np.float32([0.74, 0.45, 0.5]))  # women's: more contrast
    lip = np.where(painted, np.float32([0.78, 0.1, 0.18]), skin * bare_lip).astype(np.float32)
    lip_b = _col(np.where(a["Big_Lips"], 1.5, 1.0) * np.where(male, 0.85, 1.3))  # women's lips fuller
    mx = fx(0.0)
    # a smile: a wide, open mouth whose upper edge curves up to the corners, showing the upper teeth
    curve = 0.2 - 0.9 * ((x - mx) / squeeze) ** 2  # the upper lip's line rises toward the corners
    smile_outer = _ellipse_distance(x, y, mx, 0.2, 0.25 * squeeze, 0.14 * lip_b)
    smile = np.maximum(smile_outer, curve - y)
    teeth = np.maximum(_ellipse_distance(x, y, mx, 0.2, 0.21 * squeeze, 0.08), curve + 0.012 - y)
    closed = _ellipse_distance(x, y, mx, 0.27, 0.1 * squeeze, 0.02 * lip_b)
    opened = _ellipse_distance(x, y, mx, 0.27, 0.07 * squeeze, 0.035)
    smiling = _col(a["Smiling"])
    _blend(image, _soft(smile, lpx) * smiling, lip)
    _blend(image, _soft(teeth, lpx) * smiling, np.tile([[0.98, 0.98, 0.95]], (n, 1)).astype(np.float32))
    _blend(image, _soft(closed, lpx) * (1 - smiling), lip)
    _blend(image, _soft(opened, lpx) * (1 - smiling) * _col(a["Mouth_Slightly_Open"]), np.tile([[0.25, 0.05, 0.08]], (n, 1)).astype(np.float32))


def _hair_in_front(image: np.ndarray, s: _Scene, hair_img: np.ndarray, wave: np.ndarray) -> None:
    """The hair in front: the hairline (receding or not), a fringe, and a hat."""
    a, draw, x, y, lpx, face_a, face_b, face_cx = s.a, s.draw, s.x, s.y, s.lpx, s.face_a, s.face_b, s.face_cx
    hair_a, hair_b = _hair_extent(s)
    top_hair = np.maximum(_ellipse_distance(x, y, face_cx, -0.12, hair_a, hair_b) - wave * 0.5, y + 0.3)
    hairline = _col(np.where(a["Receding_Hairline"], -0.42, -0.34))
    top_hair = np.maximum(top_hair, y - hairline)
    fringe_edge = -0.2 + 0.025 * np.sin(60 * x)
    fringe = np.maximum(_ellipse_distance(x, y, face_cx, -0.12, face_a + 0.1, face_b + 0.04), y - fringe_edge)
    fringe = np.maximum(fringe, -0.5 - y)
    front = np.where(_col(a["Bangs"]) > 0, np.minimum(top_hair, fringe), top_hair)
    _blend(image, _soft(front, lpx) * _col(~a["Bald"]), hair_img)
    if a["Wearing_Hat"].any():
        hat_colour = (0.1 + 0.8 * draw.hat).astype(np.float32)
        crown = np.maximum(_ellipse_distance(x, y, face_cx, -0.38, face_a + 0.1, 0.32), y + 0.34)
        brim = _ellipse_distance(x, y, face_cx, -0.34, face_a + 0.26, 0.06)
        _blend(image, _soft(np.minimum(crown, brim), lpx) * _col(a["Wearing_Hat"]), hat_colour)


def _glasses(image: np.ndarray, s: _Scene) -> None:
    """Eyeglasses (a quarter of them tinted) on top of everything on the face."""
    n, a, draw, x, y, lpx, squeeze, fx = s.n, s.a, s.draw, s.x, s.y, s.lpx, s.squeeze, s.fx
    # glasses on top of everything on the face
    if a["Eyeglasses"].any():
        frame_colour = np.tile([[0.08, 0.08, 0.1]], (n, 1)).astype(np.float32)
        tinted = _col(draw.tinted_glasses < 0.25)
        for side in (-1, 1):
            ex = fx(side * 0.165)
            outer = _ellipse_distance(x, y, ex, -0.05, 0.125 * squeeze, 0.085)
            rim = np.abs(outer + 0.016) - 0.02
            _blend(image, _soft(outer, lpx) * _col(a["Eyeglasses"]) * tinted * 0.6, frame_colour)
            _blend(image, _soft(rim, lpx) * _col(a["Eyeglasses"]), frame_colour)
        bridge = np.maximum(np.abs(x - fx(0.0)) - 0.05 * squeeze, np.abs(y + 0.06) - 0.012)
        _blend(image, _soft(bridge, lpx) * _col(a["Eyeglasses"]), frame_colour)


def _camera(image: np.ndarray, s: _Scene) -> np.ndarray:
    """Light and camera: in the photo domain a light gradient and a colour cast; blur; sensor noise and JPEG in the photo domain."""
    a, studio, draw, cv, height, width, scenes = s.a, s.studio, s.draw, s.cv, s.height, s.width, s.scenes
    if not studio:
        angle = draw.light_angle * 2 * np.pi
        light = 1 + 0.35 * (draw.light_strength + 0.2)[:, :, None] * (np.cos(angle)[:, None, None] * cv.x + np.sin(angle)[:, None, None] * cv.y)
        image *= light[..., None]
        image *= (0.9 + 0.2 * draw.colour_cast)[:, None, None, :]  # colour cast
    image = np.clip(image, 0, 1)
    sigma = np.where(a["Blurry"], 0.9 + 0.6 * draw.blur, 0.0 if studio else 0.25 * draw.blur) * width / 64
    if (sigma > 0.05).any():
        image = _blur(image, sigma)
    if not studio:
        noise_sd = (0.01 + 0.03 * draw.noise).astype(np.float32)
        noise = np.stack([np.random.default_rng(int(seed) + 104729).standard_normal((height, width, 3), dtype=np.float32)
                          for seed in scenes["seed"]])
        image = np.clip(image + noise * noise_sd[:, None, None, None], 0, 1)
    out = (image * 255 + 0.5).astype(np.uint8)
    if not studio:
        quality = (50 + 40 * draw.jpeg_quality).astype(int)
        out = np.stack([_jpeg(img, q) for img, q in zip(out, quality)])
    return out


def _blur(image: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    out = image.copy()
    for i, s in enumerate(sigma):
        if s > 0.05:
            out[i] = gaussian_filter(image[i], sigma=(s, s, 0), mode="nearest")
    return out


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
