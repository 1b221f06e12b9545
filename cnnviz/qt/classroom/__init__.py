"""Classroom parts (presenter mode, tour, snapshots, export and recording, sessions),
registered by the composition root."""
