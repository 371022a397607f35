"""Data preparation: formulas (``expr``), recipes of steps (``recipe``), automatic cleaning
(``clean``), joins (``join``) and exploration (``explore``). Pure functions of DataFrames: nothing
here trains a model or touches the workspace."""
