"""fairlab: the package behind the fairlab companion book.

Data flows one way through the package::

    fairlab.data, fairlab.faceworld        datasets: the real loaders, FaceWorld and its record-backed sets
      -> fairlab.device, fairlab.train,    the profile's device, the one training engine, networks,
         fairlab.models, fairlab.backbones,  the stand-in backbones, the miniature text-to-image model
         fairlab.t2i
      -> fairlab.aimfair, fairlab.win      each paper's methods and experiments, one package per paper
      -> fairlab.results, fairlab.study    the results registry (records keyed by config and code); a study
                                           is a profile with its registry, what experiments and pages take
      -> fairlab.reports, fairlab.figures  tables against the papers' numbers, claim checks, figures
      -> fairlab.pages                     one module per notebook: what its page computes and shows
      -> notebooks/ -> fairlab.book        papermill executes them, Jupyter Book renders them

Beside the flow: fairlab.profiles (smoke, mini, paper), fairlab.metrics (pure metric functions),
fairlab.plans and fairlab.parallel (what a build computes, on Dask workers), fairlab.cli.
Nothing here runs on import.

The methods on your own model, without the book: :func:`fairlab.selective_mask` (AIM-Fair's SMG) and
:func:`fairlab.neutralized_head` (weight importance neutralization), imported when first used.
"""

__version__ = "0.1.0"

#: the public methods, by the module that defines each (imported on first use: ``import fairlab`` stays light)
_PUBLIC = {"selective_mask": "fairlab.aimfair.selective", "neutralized_head": "fairlab.win.neutralize"}


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'fairlab' has no attribute {name!r}")
