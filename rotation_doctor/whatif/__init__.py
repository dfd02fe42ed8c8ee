"""`rotation-doctor what-if`: a planned change (a Terraform plan, a CloudFormation change set) applied to copies of
the account's snapshots, and the secrets it breaks, degrades or heals. Pure: `collect` reads, this judges."""
