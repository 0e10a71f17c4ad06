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
"""

__version__ = "0.1.0"
