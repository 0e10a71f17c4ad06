"""fairlab: the package behind the fairlab companion book.

Data flows one way through the package::

    fairlab.data, fairlab.faceworld          (datasets, shipped or generated)
      -> fairlab.models, fairlab.train       (networks and the one training engine)
      -> fairlab.neutralize, fairlab.baselines, ...   (the papers' methods)
      -> fairlab.results                     (the run registry)
      -> fairlab.reports                     (tables against the papers' numbers, figures)
      -> notebooks/ -> the book

Notebooks import the pieces they need; nothing here runs on import.
"""

__version__ = "0.1.0"
