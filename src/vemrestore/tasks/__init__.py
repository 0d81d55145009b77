"""Objectives: what is learned (input/target pairs and losses); networks never see this."""
