package main

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// TestVPCSetup: with vpcSetup the stack creates what the ingestion needs in a VPC
// without a NAT: an S3 gateway endpoint on the subnets' route tables, interface
// endpoints for Secrets Manager, Glue, EventBridge Scheduler and CloudWatch Logs in
// the subnets (private DNS, HTTPS from the ingestion's security groups only), and
// Glue's self-referencing rule; without it, none of these.
func TestVPCSetup(t *testing.T) {
	for _, name := range []string{"utc", "vpc"} {
		s := ingestStackFor(t, name)
		for _, typ := range []string{"AWS::EC2::VPCEndpoint", "AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress"} {
			if n := len(s.resources(typ)); n != 0 {
				t.Errorf("%s: %d %s without vpcSetup", name, n, typ)
			}
		}
	}
	s := ingestStackFor(t, "vpcsetup")
	var got []string
	for _, r := range s.resources("AWS::EC2::VPCEndpoint") {
		p := props(r)
		if p["VpcId"] != testVPC {
			t.Errorf("endpoint in %v, want %s", p["VpcId"], testVPC)
		}
		line := fmt.Sprintf("%s %s", p["VpcEndpointType"], render(p["ServiceName"]))
		switch p["VpcEndpointType"] {
		case "Gateway":
			line += fmt.Sprintf(" routes %v", p["RouteTableIds"])
		case "Interface":
			line += fmt.Sprintf(" subnets %v sg %s privateDns %v", p["SubnetIds"], render(asList(p["SecurityGroupIds"])[0]), p["PrivateDnsEnabled"])
		}
		got = append(got, line)
	}
	sort.Strings(got)
	subnets := "[subnet-0123456789abcdef0 subnet-0fedcba9876543210]"
	iface := func(svc string) string {
		return "Interface com.amazonaws.${AWS::Region}." + svc + " subnets " + subnets + " sg ${IngestEndpointSecurityGroup.GroupId} privateDns true"
	}
	want := []string{
		"Gateway com.amazonaws.${AWS::Region}.s3 routes [rtb-0123456789abcdef0 rtb-0fedcba9876543210]",
		iface("glue"), iface("logs"), iface("scheduler"), iface("secretsmanager"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("endpoints:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	var rules []string
	for _, r := range s.resources("AWS::EC2::SecurityGroupIngress") {
		p := props(r)
		rules = append(rules, fmt.Sprintf("%s tcp %v-%v from %s", render(p["GroupId"]), p["FromPort"], p["ToPort"], p["SourceSecurityGroupId"]))
		if p["IpProtocol"] != "tcp" || p["CidrIp"] != nil {
			t.Errorf("ingress %v: want tcp from a security group", p)
		}
	}
	sort.Strings(rules)
	wantRules := []string{
		"${IngestEndpointSecurityGroup.GroupId} tcp 443-443 from sg-0123456789abcdef0",
		"sg-0123456789abcdef0 tcp 0-65535 from sg-0123456789abcdef0",
	}
	if !reflect.DeepEqual(rules, wantRules) {
		t.Errorf("ingress rules:\n got %q\nwant %q", rules, wantRules)
	}
}

func TestParseVPCSetupErrors(t *testing.T) {
	base := func() map[string]any {
		in := ingestContext(true)
		in["vpcSetup"] = map[string]any{"vpcId": testVPC, "routeTableIds": []any{"rtb-0123456789abcdef0"}}
		return in
	}
	for _, tc := range []struct {
		name   string
		change func(in map[string]any)
		field  string
		msg    string
	}{
		{"not an object", func(in map[string]any) { in["vpcSetup"] = "vpc-1" }, "vpcSetup", "want an object"},
		{"bad VPC id", func(in map[string]any) { in["vpcSetup"].(map[string]any)["vpcId"] = "vpc1" }, "vpcSetup.vpcId", "not a VPC ID"},
		{"no route tables", func(in map[string]any) { delete(in["vpcSetup"].(map[string]any), "routeTableIds") }, "vpcSetup.routeTableIds", "required"},
		{"bad route table", func(in map[string]any) { in["vpcSetup"].(map[string]any)["routeTableIds"] = []any{"rt-1"} }, "vpcSetup.routeTableIds", "not a route table ID"},
		{"unknown field", func(in map[string]any) { in["vpcSetup"].(map[string]any)["subnets"] = "x" }, "vpcSetup.subnets", "unknown field"},
		{"without the VPC fields", func(in map[string]any) {
			delete(in, "subnetIds")
			delete(in, "securityGroupIds")
			delete(in, "availabilityZone")
		}, "vpcSetup", "needs the VPC fields"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			tc.change(in)
			_, err := ParseConfig(lookupFrom(map[string]any{KeyDBInstanceIDs: []any{"orders"}, KeyDatabases: []any{"shop"}, KeyIngest: in}))
			found := false
			for _, ce := range configErrors(err) {
				if ce.Key == KeyIngest && ce.Field == tc.field && strings.Contains(ce.Reason, tc.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("error %v has no ConfigError for field %q saying %q", err, tc.field, tc.msg)
			}
		})
	}
	in := base()
	c, err := ParseConfig(lookupFrom(map[string]any{KeyDBInstanceIDs: []any{"orders"}, KeyDatabases: []any{"shop"}, KeyIngest: in}))
	if err != nil || !reflect.DeepEqual(c.Ingest.VPCSetup, &VPCSetup{VPCID: testVPC, RouteTableIDs: []string{"rtb-0123456789abcdef0"}}) {
		t.Errorf("valid vpcSetup: %+v, %v", c.Ingest, err)
	}
}
