"""redline.evaluation"""
