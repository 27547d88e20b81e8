"""A program whose `main` is a package folder (`main: src/`)."""

import os

import pulumi
import pulumi_random as random

import lib

password = random.RandomPassword("db", length=24, special=False)
pet = random.RandomPet("name", prefix=lib.PREFIX)

pulumi.export("cwd", os.path.basename(os.getcwd()))
pulumi.export("root", os.path.basename(pulumi.get_root_directory()))
pulumi.export("pet", pet.id)
