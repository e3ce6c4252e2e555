"""redline.protocols"""
