"""The engine: everything cnnviz can do, with torch, NumPy and OpenCV only (never Qt)."""
