#ifndef BASTION_RENDER_H
#define BASTION_RENDER_H
#endif
