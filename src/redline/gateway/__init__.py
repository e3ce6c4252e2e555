"""redline.gateway"""
