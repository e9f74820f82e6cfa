package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// runInVPC runs fn in the subnets with the security groups (a function that
// reaches a MySQL source inside its VPC: the ingestion's, the archive's). The
// network interface permissions are inline rather than
// AWSLambdaVPCAccessExecutionRole (which CDK would attach for a Vpc prop): scoped
// to the subnets and security groups, and no managed policy the offline contract
// cannot evaluate.
func (b *Base) runInVPC(fn awslambda.Function, subnetIDs, securityGroupIDs []string) {
	fn.Node().DefaultChild().(awslambda.CfnFunction).AddPropertyOverride(jsii.String("VpcConfig"), map[string]any{
		"SubnetIds": subnetIDs, "SecurityGroupIds": securityGroupIDs,
	})
	eni := b.arn("ec2", "network-interface/*")
	fn.AddToRolePolicy(statement([]string{"ec2:CreateNetworkInterface"}, append(b.networkArns(subnetIDs, securityGroupIDs), eni)...))
	fn.AddToRolePolicy(statement([]string{"ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}, eni))
	// The Lambda developer guide: DescribeNetworkInterfaces works only on "*"; the
	// IAM reference lists no resource type for it or DescribeSubnets.
	fn.AddToRolePolicy(statement([]string{"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}, "*"))
	b.suppress(fn.Role(), wildcards("Lambda creates and deletes the function's network interfaces in the configured subnets; ec2:Describe* have no resource type.",
		findingENIs))
}

// networkArns are the subnets' and security groups' ARNs.
func (b *Base) networkArns(subnetIDs, securityGroupIDs []string) []string {
	var out []string
	for _, id := range subnetIDs {
		out = append(out, b.arn("ec2", "subnet/"+id))
	}
	for _, id := range securityGroupIDs {
		out = append(out, b.arn("ec2", "security-group/"+id))
	}
	return out
}
