"""redline.policy"""
