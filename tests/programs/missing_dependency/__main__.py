import pulumi
import pulumi_docker_build as docker_build

image = docker_build.Image("app", push=False, tags=["app:latest"])
pulumi.export("ref", image.ref)
