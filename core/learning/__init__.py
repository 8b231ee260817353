"""Learned scoring: a likelihood per lead, learned from sales' verdicts, explained additively.

Pure code, no database and no clock: :mod:`features` turns a lead (or a history file's row) into
feature values *as of* a moment, :mod:`labels` turns a lead's stage history into a label,
:mod:`model` trains, predicts and explains, :mod:`backtest` measures a model against the rules.
scikit-learn is imported here and nowhere else; a trained model is plain JSON data.
"""
