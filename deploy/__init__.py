"""Photofeed on AWS: the CloudFormation template and the deployment packages.

`make package` runs `python -m deploy package`: `chalice package` for the API, merged
with the template built here (`deploy.template`), plus a zip for each function Lambda
(`deploy.build`). Nothing here talks to AWS; the output goes to `dist/`.
"""
