"""lab.widgets: states, figures, explorer classes, explorer_mode."""

PENDING = ()
