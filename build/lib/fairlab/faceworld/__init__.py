"""FaceWorld: a procedural face world that stands in for CelebA, UTKFace and LFW+a offline.

* :mod:`fairlab.faceworld.sampler` — attribute sets drawn to follow the real label statistics;
* :mod:`fairlab.faceworld.world` — scenes (the oracle: every image's true attributes);
* :mod:`fairlab.faceworld.render` — the deterministic renderer, two visual domains;
* :mod:`fairlab.faceworld.formats` — writers to the real datasets' formats.
"""
