"""redline.audit"""
