package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/jsii-runtime-go"
)

// VPCSetup is the optional vpcSetup field of snaplake:ingest: the network the
// ingestion needs in VPC mode, created by the stack instead of by hand.
//
// What runs in the configured subnets, and what it calls:
//   - the reconfigure function: S3 (config, state, raw/), Secrets Manager (the
//     source's secret), Glue (GetCrawler, UpdateCrawler) and EventBridge Scheduler
//     (GetSchedule, UpdateSchedule). Lambda itself delivers its logs, from outside
//     the VPC; KMS is called by S3 and Secrets Manager on its behalf, not by it.
//   - the Glue job, through its NETWORK connection in the first subnet only (one
//     availability zone): S3 (script, plan, raw/, results), Secrets Manager (boto3)
//     and CloudWatch Logs (its driver and executor logs); Glue's runtime reaches the
//     Glue API.
//
// Without a NAT, the subnets then need an S3 gateway endpoint on their route tables
// and interface endpoints for Secrets Manager, Glue, EventBridge Scheduler and
// CloudWatch Logs; Glue needs a security group with a self-referencing rule for all
// TCP ports (its workers talk to each other). With vpcSetup the stack creates all of
// these; without it, they (or a NAT) are the deployer's to provide.
type VPCSetup struct {
	VPCID         string
	RouteTableIDs []string // of the configured subnets: the S3 gateway endpoint's routes
}

// The fields of snaplake:ingest's vpcSetup.
const (
	fieldVPCSetup      = "vpcSetup"
	fieldVPCID         = "vpcId"
	fieldRouteTableIDs = "routeTableIds"
)

// InterfaceEndpointServices are the services the in-VPC components call other than
// S3 (which gets a gateway endpoint): see VPCSetup.
var InterfaceEndpointServices = []string{"secretsmanager", "glue", "scheduler", "logs"}

var (
	vpcIDRE        = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	routeTableIDRE = regexp.MustCompile(`^rtb-[0-9a-f]{8,17}$`)
)

// parseVPCSetup reads the vpcSetup object: nil when it is not set.
func parseVPCSetup(v any) (*VPCSetup, []error) {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: KeyIngest, Field: fieldVPCSetup + "." + field, Reason: fmt.Sprintf(format, args...)})
	}
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, []error{&ConfigError{Key: KeyIngest, Field: fieldVPCSetup, Reason: fmt.Sprintf("is %T, want an object with %s and %s", v, fieldVPCID, fieldRouteTableIDs)}}
	}
	for k := range m {
		if k != fieldVPCID && k != fieldRouteTableIDs {
			fail(k, "unknown field (the fields are %s, %s)", fieldVPCID, fieldRouteTableIDs)
		}
	}
	out := &VPCSetup{}
	var err error
	if out.VPCID, err = stringValue(m[fieldVPCID]); err != nil {
		fail(fieldVPCID, "%v", err)
	} else if !vpcIDRE.MatchString(out.VPCID) {
		fail(fieldVPCID, "%q is not a VPC ID (vpc-0123456789abcdef0): the VPC of subnetIds", out.VPCID)
	}
	if out.RouteTableIDs, err = stringList(m[fieldRouteTableIDs]); err != nil {
		fail(fieldRouteTableIDs, "%v", err)
	} else if len(out.RouteTableIDs) == 0 {
		fail(fieldRouteTableIDs, "required: the route tables of subnetIds, which the S3 gateway endpoint adds its route to")
	}
	for _, id := range out.RouteTableIDs {
		if !routeTableIDRE.MatchString(id) {
			fail(fieldRouteTableIDs, "%q is not a route table ID (rtb-0123456789abcdef0)", id)
		}
	}
	if dup := duplicate(out.RouteTableIDs, strings.ToLower); dup != "" {
		fail(fieldRouteTableIDs, "%q is listed twice", dup)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// addNetwork creates, with vpcSetup, the S3 gateway endpoint, the interface endpoints
// (in the configured subnets, which must lie in distinct availability zones, with
// private DNS so the SDKs' default endpoints resolve to them) and Glue's
// self-referencing rule on the first configured security group.
func (x *ingestStack) addNetwork() {
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
