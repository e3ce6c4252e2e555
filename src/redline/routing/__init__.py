"""redline.routing"""
