package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/jsii-runtime-go"
)

// InterfaceEndpointServices are the services the in-VPC components call other than
// S3 (which gets a gateway endpoint): see VPCSetup.
var InterfaceEndpointServices = []string{"secretsmanager", "glue", "scheduler", "logs"}

// addNetwork creates, with vpcSetup, the S3 gateway endpoint, the interface endpoints
// (in the configured subnets, which must lie in distinct availability zones, with
// private DNS so the SDKs' default endpoints resolve to them) and Glue's
// self-referencing rule on the first configured security group.
func (x *Ingest) addNetwork() {
	n := x.in.VPCSetup
	if n == nil {
		return
	}
	region := *x.stack.Region()
	awsec2.NewCfnVPCEndpoint(x.stack, jsii.String("IngestS3Endpoint"), &awsec2.CfnVPCEndpointProps{
		VpcId:           jsii.String(n.VPCID),
		ServiceName:     jsii.String("com.amazonaws." + region + ".s3"),
		VpcEndpointType: jsii.String("Gateway"),
		RouteTableIds:   anyList(n.RouteTableIDs...),
	})
	// The endpoints accept HTTPS from the components' security groups only.
	sg := awsec2.NewCfnSecurityGroup(x.stack, jsii.String("IngestEndpointSecurityGroup"), &awsec2.CfnSecurityGroupProps{
		GroupDescription: jsii.String("snaplake ingest: HTTPS to the interface endpoints from the ingestion's security groups"),
		VpcId:            jsii.String(n.VPCID),
	})
	for i, src := range x.in.SecurityGroupIDs {
		awsec2.NewCfnSecurityGroupIngress(x.stack, jsii.String(fmt.Sprintf("IngestEndpointHttpsFrom%d", i)), &awsec2.CfnSecurityGroupIngressProps{
			GroupId:               sg.AttrGroupId(),
			IpProtocol:            jsii.String("tcp"),
			FromPort:              jsii.Number(443),
			ToPort:                jsii.Number(443),
			SourceSecurityGroupId: jsii.String(src),
			Description:           jsii.String("HTTPS from " + src),
		})
	}
	for _, svc := range InterfaceEndpointServices {
		awsec2.NewCfnVPCEndpoint(x.stack, jsii.String("IngestEndpoint-"+svc), &awsec2.CfnVPCEndpointProps{
			VpcId:             jsii.String(n.VPCID),
			ServiceName:       jsii.String("com.amazonaws." + region + "." + svc),
			VpcEndpointType:   jsii.String("Interface"),
			SubnetIds:         anyList(x.in.SubnetIDs...),
			SecurityGroupIds:  anyList(*sg.AttrGroupId()),
			PrivateDnsEnabled: jsii.Bool(true),
		})
	}
	// Glue: "a self-referencing inbound rule for all TCP ports" on a security group
	// of the connection.
	glueSG := x.in.SecurityGroupIDs[0]
	awsec2.NewCfnSecurityGroupIngress(x.stack, jsii.String("IngestGlueSelfReference"), &awsec2.CfnSecurityGroupIngressProps{
		GroupId:               jsii.String(glueSG),
		IpProtocol:            jsii.String("tcp"),
		FromPort:              jsii.Number(0),
		ToPort:                jsii.Number(65535),
		SourceSecurityGroupId: jsii.String(glueSG),
		Description:           jsii.String("snaplake ingest: Glue workers reach each other (self-referencing rule Glue requires)"),
	})
}

// anyList is a list property CDK types as *[]interface{}.
func anyList(ss ...string) *[]any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return &out
}
