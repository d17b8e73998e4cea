"""Trainers of this plugin (UniSRec pre-training); RecBole supplies the rest."""
