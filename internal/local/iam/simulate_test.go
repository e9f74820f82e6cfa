package iam

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

const (
	exporterRole = "arn:aws:iam::000000000000:role/ExporterRole"
	keyArn       = "arn:aws:kms:us-east-1:000000000000:key/k1"
)

const kmsUserPolicy = `{"Version":"2012-10-17","Statement":[
	{"Effect":"Allow","Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":"arn:aws:kms:us-east-1:000000000000:key/k1"},
	{"Effect":"Allow","Action":"kms:CreateGrant","Resource":"arn:aws:kms:us-east-1:000000000000:key/k1",
	 "Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}
]}`

// The default key policy CDK writes: the account root may do anything, which
// delegates the key's use to IAM policies.
const delegatingKeyPolicy = `{"Version":"2012-10-17","Statement":[
	{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"},
	{"Effect":"Allow","Principal":{"Service":"logs.us-east-1.amazonaws.com"},"Action":"kms:Encrypt*","Resource":"*"}
]}`

func newSimAuthority(t *testing.T) *Authority {
	t.Helper()
	a := newTestAuthority(t)
	ps, err := ParsePolicies([]byte(kmsUserPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Add(Principal{Name: "KeyUser", RoleName: "KeyUserRole", SessionName: "key-user", Account: "000000000000", Policies: ps}); err != nil {
		t.Fatal(err)
	}
	return a
}

type decided struct {
	action, resource string
	decision         iamtypes.PolicyEvaluationDecisionType
	missing          []string
}

func flatten(out *awsiam.SimulatePrincipalPolicyOutput) []decided {
	var got []decided
	for _, r := range out.EvaluationResults {
		for _, rr := range r.ResourceSpecificResults {
			got = append(got, decided{aws.ToString(r.EvalActionName), aws.ToString(rr.EvalResourceName), rr.EvalResourceDecision, rr.MissingContextValues})
		}
	}
	return got
}

func TestSimulatePrincipalPolicy(t *testing.T) {
	const (
		allowed  = iamtypes.PolicyEvaluationDecisionTypeAllowed
		implicit = iamtypes.PolicyEvaluationDecisionTypeImplicitDeny
		explicit = iamtypes.PolicyEvaluationDecisionTypeExplicitDeny
	)
	tests := []struct {
		name string
		in   awsiam.SimulatePrincipalPolicyInput
		want []decided
	}{
		{
			name: "actions times resources",
			in: awsiam.SimulatePrincipalPolicyInput{
				PolicySourceArn: aws.String(exporterRole),
				ActionNames:     []string{"s3:GetObject", "s3:DeleteObject"},
				ResourceArns:    []string{"arn:aws:s3:::lake/a", "arn:aws:s3:::other/a"},
			},
			want: []decided{
				// passRolePolicy allows s3:* to the ExporterRole by aws:PrincipalArn:
				// the simulation adds the role's identity keys as Authorize does.
				{"s3:GetObject", "arn:aws:s3:::lake/a", allowed, nil},
				{"s3:GetObject", "arn:aws:s3:::other/a", allowed, nil},
				{"s3:DeleteObject", "arn:aws:s3:::lake/a", explicit, nil},
				{"s3:DeleteObject", "arn:aws:s3:::other/a", explicit, nil},
			},
		},
		{
			name: "no resource means *",
			in: awsiam.SimulatePrincipalPolicyInput{
				PolicySourceArn: aws.String(exporterRole),
				ActionNames:     []string{"rds:StartExportTask"},
			},
			want: []decided{{"rds:StartExportTask", "*", allowed, nil}},
		},
		{
			name: "context given",
			in: awsiam.SimulatePrincipalPolicyInput{
				PolicySourceArn: aws.String(exporterRole),
				ActionNames:     []string{"iam:PassRole"},
				ResourceArns:    []string{"arn:aws:iam::000000000000:role/ExportRole"},
				ContextEntries: []iamtypes.ContextEntry{{
					ContextKeyName: aws.String("iam:PassedToService"), ContextKeyValues: []string{"export.rds.amazonaws.com"}, ContextKeyType: iamtypes.ContextKeyTypeEnumString,
				}},
			},
			want: []decided{{"iam:PassRole", "arn:aws:iam::000000000000:role/ExportRole", allowed, nil}},
		},
		{
			name: "context missing",
			in: awsiam.SimulatePrincipalPolicyInput{
				PolicySourceArn: aws.String(exporterRole),
				ActionNames:     []string{"iam:PassRole"},
				ResourceArns:    []string{"arn:aws:iam::000000000000:role/ExportRole"},
			},
			want: []decided{{"iam:PassRole", "arn:aws:iam::000000000000:role/ExportRole", implicit, []string{"iam:passedtoservice"}}},
		},
		{
			name: "delegating key policy",
			in: awsiam.SimulatePrincipalPolicyInput{
				PolicySourceArn: aws.String("arn:aws:iam::000000000000:role/KeyUserRole"),
				CallerArn:       aws.String("arn:aws:iam::000000000000:role/KeyUserRole"),
				ActionNames:     []string{"kms:Decrypt", "kms:Encrypt", "kms:CreateGrant"},
				ResourceArns:    []string{keyArn},
				ResourcePolicy:  aws.String(delegatingKeyPolicy),
				ContextEntries: []iamtypes.ContextEntry{{
					ContextKeyName: aws.String("kms:GrantIsForAWSResource"), ContextKeyValues: []string{"true"}, ContextKeyType: iamtypes.ContextKeyTypeEnumBoolean,
				}},
			},
			want: []decided{
				{"kms:Decrypt", keyArn, allowed, nil},
				{"kms:Encrypt", keyArn, implicit, nil}, // the key policy delegates; the identity policy does not allow
				{"kms:CreateGrant", keyArn, allowed, nil},
			},
		},
		{
			name: "key policy that does not delegate",
			in: awsiam.SimulatePrincipalPolicyInput{
				PolicySourceArn: aws.String("arn:aws:iam::000000000000:role/KeyUserRole"),
				ActionNames:     []string{"kms:Decrypt"},
				ResourceArns:    []string{keyArn},
				ResourcePolicy:  aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"}]}`),
			},
			want: []decided{{"kms:Decrypt", keyArn, implicit, nil}},
		},
		{
			name: "key policy naming the role allows by itself",
			in: awsiam.SimulatePrincipalPolicyInput{
				PolicySourceArn: aws.String(exporterRole),
				ActionNames:     []string{"kms:Encrypt"},
				ResourceArns:    []string{keyArn},
				ResourcePolicy:  aws.String(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::000000000000:role/ExporterRole"]},"Action":"kms:Encrypt","Resource":"*"}}`),
			},
			want: []decided{{"kms:Encrypt", keyArn, allowed, nil}},
		},
		{
			name: "key policy deny wins",
			in: awsiam.SimulatePrincipalPolicyInput{
				PolicySourceArn: aws.String("arn:aws:iam::000000000000:role/KeyUserRole"),
				ActionNames:     []string{"kms:Decrypt"},
				ResourceArns:    []string{keyArn},
				ResourcePolicy: aws.String(`{"Version":"2012-10-17","Statement":[
					{"Effect":"Allow","Principal":{"AWS":"000000000000"},"Action":"kms:*","Resource":"*"},
					{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]}`),
			},
			want: []decided{{"kms:Decrypt", keyArn, explicit, nil}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newSimAuthority(t)
			out, err := a.SimulatePrincipalPolicy(context.Background(), &tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := flatten(out); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("results\n got %+v\nwant %+v", got, tt.want)
			}
			for _, r := range out.EvaluationResults {
				worst := iamtypes.PolicyEvaluationDecisionTypeAllowed
				for _, rr := range r.ResourceSpecificResults {
					worst = mostRestrictive(worst, rr.EvalResourceDecision)
				}
				if r.EvalDecision != worst {
					t.Errorf("%s: top-level EvalDecision %s, want the most restrictive %s", aws.ToString(r.EvalActionName), r.EvalDecision, worst)
				}
			}
			if g := a.Allowed(); len(g) != 0 {
				t.Errorf("simulation recorded grants %v: a simulation is not a call", g)
			}
			if g := a.Denied(); len(g) != 0 {
				t.Errorf("simulation recorded denials %v: a simulation is not a call", g)
			}
		})
	}
}

func TestSimulatePrincipalPolicyErrors(t *testing.T) {
	a := newSimAuthority(t)
	ctx := context.Background()
	_, err := a.SimulatePrincipalPolicy(ctx, &awsiam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String("arn:aws:iam::000000000000:role/Nope"), ActionNames: []string{"s3:GetObject"},
	})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) {
		t.Errorf("unknown role: %v, want NoSuchEntityException", err)
	}
	var inv *iamtypes.InvalidInputException
	for name, in := range map[string]*awsiam.SimulatePrincipalPolicyInput{
		"no source":       {ActionNames: []string{"s3:GetObject"}},
		"no actions":      {PolicySourceArn: aws.String(exporterRole)},
		"bad action":      {PolicySourceArn: aws.String(exporterRole), ActionNames: []string{"GetObject"}},
		"bad policy":      {PolicySourceArn: aws.String(exporterRole), ActionNames: []string{"s3:GetObject"}, ResourcePolicy: aws.String("{")},
		"not principal":   {PolicySourceArn: aws.String(exporterRole), ActionNames: []string{"s3:GetObject"}, ResourcePolicy: aws.String(`{"Statement":[{"Effect":"Deny","NotPrincipal":"*","Action":"*","Resource":"*"}]}`)},
		"no principal":    {PolicySourceArn: aws.String(exporterRole), ActionNames: []string{"s3:GetObject"}, ResourcePolicy: aws.String(`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)},
		"policy mistakes": {PolicySourceArn: aws.String(exporterRole), ActionNames: []string{"s3:GetObject"}, ResourcePolicy: aws.String(`{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"*","Resource":"*"}]}`)},
	} {
		if _, err := a.SimulatePrincipalPolicy(ctx, in); !errors.As(err, &inv) {
			t.Errorf("%s: %v, want InvalidInputException", name, err)
		}
	}
}
