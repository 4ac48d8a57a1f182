"""Views: pure functions from the model to :class:`~pdebug.views.table.Table` data."""
