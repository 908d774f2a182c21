// CDK app: the hookrunner wrapper chart applied with CDK's eks.HelmChart (a
// custom resource that AWS CDK maintains), and a CloudFormation
// WaitConditionHandle that hookrunner signals. `cdk synth` gives the
// template; the stack completes when the shop is usable.
import * as fs from 'fs';
import * as path from 'path';
import * as cdk from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks';
import * as yaml from 'yaml';
import { Construct } from 'constructs';

export class ShopStack extends cdk.Stack {
  constructor(scope: Construct, id: string, props: cdk.StackProps & { cluster: eks.ICluster }) {
    super(scope, id, props);

    const handle = new cdk.CfnWaitConditionHandle(this, 'InstallHandle');
    const done = new cdk.CfnWaitCondition(this, 'InstallDone', {
      handle: handle.ref,
      timeout: '1800',
      count: 1,
    });

    const values = yaml.parse(fs.readFileSync(path.join(__dirname, 'wrapper-values.yaml'), 'utf8'));
    values.callback.url = handle.ref; // the presigned URL hookrunner PUTs its result to

    const installer = new eks.HelmChart(this, 'Installer', {
      cluster: props.cluster,
      chart: 'hookrunner',
      repository: 'oci://123456789012.dkr.ecr.us-east-1.amazonaws.com/charts/hookrunner',
      version: '0.1.0',
      release: 'shop-installer',
      namespace: 'shop-installer',
      createNamespace: true,
      // helm returns when the hook Job is done; the wait condition carries
      // the result either way.
      wait: false,
      timeout: cdk.Duration.minutes(14),
      values,
    });
    done.node.addDependency(installer);

    // Data is {"<UniqueId>": "{\"endpoint\": \"http://…\"}"}.
    new cdk.CfnOutput(this, 'InstallData', { value: done.attrData });
  }
}
