#ifndef BASTION_DNS_H
#define BASTION_DNS_H
#endif
