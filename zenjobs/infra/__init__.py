"""Infrastructure generation: registry → typed plan → jinja2 templates → files.

:mod:`~zenjobs.infra.plan` and :mod:`~zenjobs.infra.cost` are pure and import
nothing beyond the definition side; :mod:`~zenjobs.infra.render` is the only
module that imports jinja2, and :mod:`~zenjobs.infra.files` the only one that
touches the filesystem. Nothing is imported here, so ``import zenjobs.infra.plan``
stays light.
"""
