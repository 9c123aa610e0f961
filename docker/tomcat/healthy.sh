#!/bin/bash
# Healthy once the AJP port accepts connections (the webapp is deployed by then).
exec 3<>"/dev/tcp/${RJK_ADDRESS:?}/8009"
