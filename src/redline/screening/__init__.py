"""redline.screening"""
