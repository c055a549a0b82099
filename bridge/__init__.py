"""From a trained PyTorch MLP or CNN to a spiking network and back: conversion and
Sleep Replay Consolidation (Tadros et al., Nat. Commun. 13:7742, 2022)."""
