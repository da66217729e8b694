"""Photofeed's domain: importable with no AWS account and no network."""
